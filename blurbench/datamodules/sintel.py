"""MPI Sintel (Butler et al., ECCV 2012): rendered frames in two passes and ground-truth optical flow.

Layout: ``[MPI-Sintel-complete/]training/{clean,final}/<scene>/frame_NNNN.png`` and
``training/flow/<scene>/frame_NNNN.flo`` (flow from frame N to N+1; the last frame of a scene has none),
``test/{clean,final}/...`` without flow. The ``final`` pass renders motion blur, defocus and atmosphere,
the ``clean`` pass does not, so (final, clean) is a blurry/sharp pair with known motion. Training samples
are the 1041 frames that have flow (23 scenes); test samples all 564 test frames (unverified). A sample
holds ``flow`` [2, H, W] (training). ``blurry_pass="clean"`` gives clean/clean pairs (flow-only use).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.download import DownloadSpec, Source, register_download
from blurbench.datamodules.paired import PairedDataModule, rel_id, sorted_images
from blurbench.datamodules.video import video_variant
from blurbench.errors import ConfigError, DataError
from blurbench.metrics.protocols import read_flo

# training: 1041 frames with flow (23 scenes); test: 552 frame pairs + 12 last frames = 564 (unverified)
OFFICIAL_COUNTS: dict[str, int | None] = {"training": 1041, "test": 564}
PASSES = ("final", "clean")


class Sintel(PairedDataModule):
    name = "sintel-final"
    official_counts = OFFICIAL_COUNTS
    default_split = "training"
    train_split = "training"
    top_folders = ("MPI-Sintel-complete",)

    def __init__(self, root: str | Path, split: str | None = None, *, blurry_pass: str = "final",
                 **kwargs: Any) -> None:
        if blurry_pass not in PASSES:
            raise ConfigError(f"unknown Sintel pass '{blurry_pass}'", "choose 'final' or 'clean'")
        self.blurry_pass = blurry_pass
        super().__init__(root, split, **kwargs)

    def list_clips(self, split: str) -> dict[str, list[PairRecord]]:
        base = self.root / split
        blurry_dir = base / self.blurry_pass
        if not blurry_dir.is_dir():
            raise DataError(f"{blurry_dir}: not found", f"expected {split}/{{clean,final}}/<scene>/frame_NNNN.png")
        clips = {}
        for scene in sorted(p.name for p in blurry_dir.iterdir() if p.is_dir()):
            frames = sorted({p.name for p in sorted_images(blurry_dir / scene)}
                            | {p.name for p in sorted_images(base / "clean" / scene)})
            records = []
            for name in frames:
                extras: dict[str, Any] = {}
                if split == "training":
                    flow = base / "flow" / scene / (Path(name).stem + ".flo")
                    if name == frames[-1] and not flow.exists():
                        continue  # the last frame has no forward flow
                    extras = {"flow": flow, "files": (flow,)}
                records.append(PairRecord(rel_id(blurry_dir / scene / name, self.root), blurry_dir / scene / name,
                                          base / "clean" / scene / name, extras))
            clips[scene] = records
        return clips

    def load_extras(self, rec: PairRecord) -> dict[str, Any]:
        return {"flow": read_flo(rec.extras["flow"])} if "flow" in rec.extras else {}


SintelVideo = video_variant(Sintel, "sintel-final-video")

register_download(DownloadSpec(
    "sintel", sources=(Source("http://files.is.tue.mpg.de/sintel/MPI-Sintel-complete.zip"),),
    licence="MPI Sintel terms (research use)", homepage="http://sintel.is.tue.mpg.de/",
))
