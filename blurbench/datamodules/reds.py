"""REDS (Nah et al., NTIRE 2019 video deblurring; Hub mirror ``snah/REDS``).

Layout: ``{train,val,test}/{split}_{blur,blur_comp,blur_jpeg,sharp}/NNN/NNNNNNNN.{png,jpg}`` (the split folder
level may be absent, as in BasicSR's ``datasets/REDS/train_sharp``): 240 train / 30 val / 30 test clips ×
100 frames, 1280×720; ``blur_jpeg`` frames are JPEGs; the test split has no public ground truth.
``reds4`` = train clips 000, 011, 015, 020 (EDVR/BasicSR's test set; its training split ``train-reds4``
leaves them out). Ids: ``train/train_blur/000/00000000.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.download import DownloadSpec, Source, register_download
from blurbench.datamodules.paired import PairedDataModule, rel_id, sorted_images
from blurbench.datamodules.video import video_variant
from blurbench.errors import ConfigError, DataError

VARIANTS = ("blur", "blur_comp", "blur_jpeg")
REDS4 = ("000", "011", "015", "020")
OFFICIAL_COUNTS: dict[str, int | None] = {"train": 24_000, "val": 3_000, "test": 3_000, "reds4": 400,
                                          "train-reds4": 23_600}


class REDS(PairedDataModule):
    name = "reds4"
    official_counts = OFFICIAL_COUNTS
    default_split = "reds4"
    optional_splits = ("test",)  # test inputs are a separate download
    top_folders = ("REDS",)

    def __init__(self, root: str | Path, split: str | None = None, *, variant: str = "blur", **kwargs: Any) -> None:
        if variant not in VARIANTS:
            raise ConfigError(f"unknown REDS variant '{variant}'", f"choose one of: {', '.join(VARIANTS)}")
        self.variant = variant
        super().__init__(root, split, **kwargs)
        self.train_split = "train-reds4" if self.split_name == "reds4" else "train"

    def _folder(self, split: str, kind: str) -> Path:
        nested, flat = self.root / split / f"{split}_{kind}", self.root / f"{split}_{kind}"
        return flat if flat.is_dir() and not nested.is_dir() else nested

    def list_clips(self, split: str) -> dict[str, list[PairRecord]]:
        source = "train" if split in ("reds4", "train-reds4") else split
        blur_dir = self._folder(source, self.variant)
        if not blur_dir.is_dir():
            raise DataError(f"{blur_dir}: not found", f"expected {source}/{source}_{self.variant}/NNN/NNNNNNNN.png")
        sharp_dir = None if source == "test" else self._folder(source, "sharp")
        clips = {}
        for clip in sorted(p.name for p in blur_dir.iterdir() if p.is_dir()):
            if (split == "reds4") != (clip in REDS4) and split in ("reds4", "train-reds4"):
                continue
            blur = {p.stem: p for p in sorted_images(blur_dir / clip)}
            stems = set(blur)
            if sharp_dir is not None:
                stems |= {p.stem for p in sorted_images(sharp_dir / clip)}
            ext = ".jpg" if self.variant == "blur_jpeg" else ".png"
            clips[clip] = [PairRecord(rel_id(blur.get(s, blur_dir / clip / f"{s}{ext}"), self.root),
                                      blur.get(s, blur_dir / clip / f"{s}{ext}"),
                                      None if sharp_dir is None else sharp_dir / clip / f"{s}.png")
                           for s in sorted(stems)]
        return clips


REDSVideo = video_variant(REDS, "reds4-video")


# File names in the Hub mirror are the NTIRE archive names (unverified); no checksums are published.
_HUB = "hf://datasets/snah/REDS/"
register_download(DownloadSpec(
    "reds", sources=tuple(Source(_HUB + f) for f in (
        "train_blur.zip", "train_sharp.zip", "val_blur.zip", "val_sharp.zip")),
    licence="CC BY 4.0", homepage="https://seungjunnah.github.io/Datasets/reds.html",
))
