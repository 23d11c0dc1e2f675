"""Real blur with no ground truth: outputs only (deblurred images, kernel grids, blur score maps) and s/sample.

- suite ``real``, dataset ``clock-motion``: the motion-blurred photograph scikit-image bundles
  (``skimage/data/clock_motion.png``, 400×300 grey, read as RGB); no download.
- suite ``real-folder``, dataset ``photos``: every image under ``--data-root DIR`` (recursively; ids are the
  relative paths), e.g. your own blurry photographs.

Samples carry ``blurry`` only, so :meth:`RealBlurDataModule.score` gives no metric: methods are run for their
outputs, which the HTML report shows side by side (like Figure 5 of Carbajal et al. 2021 on Lai's real images).
Methods that need a ground truth (the oracles) do not run on these datasets; every other image method does,
blur detection included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.folder import ListedFilesDataModule, list_images
from blurbench.errors import DataError

#: DatasetSpec.kind of these datasets: photographs without ground truth
REAL_KIND = "real"
PROTOCOL = "real blur, no ground truth: outputs and s/sample only"


def clock_motion_path() -> Path:
    """``clock_motion.png`` inside the installed scikit-image package."""
    import skimage  # deferred: scikit-image is slow to import and only this dataset needs it

    return Path(skimage.__file__).parent / "data" / "clock_motion.png"


class RealBlurDataModule(ListedFilesDataModule):
    """Blurry images without ground truth; ``files`` (id -> path) or every image under ``root``."""

    kind = REAL_KIND
    protocol = PROTOCOL
    split = "all"
    has_ground_truth = False  # methods run for their outputs (EvaluationTask.test_step)

    def __init__(self, root: str | Path | None = None, name: str = "photos", files: dict[str, Path] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = Path(root) if root is not None else None
        self.name = name
        self.files = files

    def _records(self) -> list[PairRecord]:
        if self.files is not None:
            return [PairRecord(i, p) for i, p in self.files.items()]
        assert self.root is not None
        if not self.root.is_dir():
            raise DataError(f"{self.root}: not a folder", "pass --data-root DIR, a folder of your blurry photos")
        names = list_images(self.root)
        if not names:
            raise DataError(f"{self.root}: no images", "put blurry photos (png/jpg/tif) in it")
        return [PairRecord(n, self.root / n) for n in names]

    def score(self, restored: torch.Tensor, batch: dict[str, Any]) -> list[dict[str, float]]:
        return [{} for _ in batch["id"]]


def clock_datamodule(root: Any = None, **kwargs: Any) -> RealBlurDataModule:
    """The ``clock-motion`` dataset (registered in :mod:`blurbench.datamodules.datasets`)."""
    return RealBlurDataModule(name="clock-motion", files={"clock_motion.png": clock_motion_path()}, **kwargs)
