"""High-frame-rate sharp video, blurred on the fly by frame averaging (GoPro/GVD style).

Layout: ``ROOT/<clip>/*.png`` (or ``ROOT/{train,test}/<clip>/*.png``): sharp frames of a high-fps video
(e.g. 240 fps). Blurry frame k of a clip is the average of sharp frames ``[k·n, (k+1)·n)`` (``num_average``
= n, default 7 as in GoPro; in linear light when ``gamma`` != 1, e.g. 2.2 for GoPro's ``blur_gamma``); its
sharp partner is the middle frame of that run. Ids: ``<clip>/<middle frame name>`` (prefixed by the split
folder when present). There are no official counts: the tree is what you put there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.paired import PairedDataModule, rel_id, sorted_images
from blurbench.datamodules.video import video_variant
from blurbench.errors import ConfigError, DataError


class HighFrameRate(PairedDataModule):
    name = "hfr"
    official_counts: dict[str, int | None] = {}

    def __init__(self, root: str | Path, split: str | None = None, *, num_average: int = 7, gamma: float = 1.0,
                 **kwargs: Any) -> None:
        if num_average < 1 or gamma <= 0:
            raise ConfigError(f"need num_average >= 1 and gamma > 0, got {num_average}, {gamma}",
                              "e.g. num_average=7, gamma=1.0")
        self.num_average, self.gamma = num_average, gamma
        self._root_arg = Path(root).expanduser() if root is not None else None
        super().__init__(root, split, **kwargs)

    def splits(self) -> list[str]:
        root = self._root_arg
        if root is not None and ((root / "train").is_dir() or (root / "test").is_dir()):
            return ["train", "test"]
        return ["test"]

    @property
    def train_split(self) -> str:  # type: ignore[override]
        return "train" if "train" in self.splits() else "test"

    def list_clips(self, split: str) -> dict[str, list[PairRecord]]:
        base = self.root / split if self.splits() == ["train", "test"] else self.root
        if not base.is_dir():
            raise DataError(f"{base}: not found", "expected ROOT/<clip>/*.png high-frame-rate sharp frames")
        clips = {}
        n = self.num_average
        for clip in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            frames = sorted_images(clip)
            records = []
            for k in range(len(frames) // n):
                run = tuple(frames[k * n:(k + 1) * n])
                middle = run[n // 2]
                records.append(PairRecord(rel_id(middle, self.root), run, middle))
            if records:
                clips[clip.name] = records
        return clips


HighFrameRateVideo = video_variant(HighFrameRate, "hfr-video")

