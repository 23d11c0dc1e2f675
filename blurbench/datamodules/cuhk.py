"""CUHK blur detection dataset (Shi, Xu, Jia, "Discriminative Blur Detection Features", CVPR 2014).

Official release: ``BlurDatasetImage.zip`` → ``image/`` and ``BlurDatasetGT.zip`` → ``gt/`` (project page
http://www.cse.cuhk.edu.hk/leojia/projects/dblurdetect/), unpacked side by side into one root::

    ROOT/image/motion0001.jpg ... motion0296.jpg, out_of_focus0001.jpg ... out_of_focus0704.jpg
    ROOT/gt/motion0001.png ... (binary masks, same size as their image)

(the blur-field authors read ``image/motion*.jpg``; other public loaders read ``gt/<name>.png``). Any image
suffix is accepted; files are matched by stem. Categories: ``motion`` (296) and ``out_of_focus`` (704).

Split (the self-supervised protocol of Carbajal et al. 2021, Table 4): odd numbers train, even numbers test —
148 motion test images. Ids: ``image/motion0002.jpg``. Samples: ``blurry`` [3, H, W] (the photo), ``mask``
[1, H, W] float, **1 = blurred**. In the GT files white (255) marks the blurred region, black the sharp one:
public CUHK loaders map GT > 0 to a blur class without inversion (e.g. Kim et al.'s deep blur detection code,
whose shipped result for motion0138 is white on the blurred background), and the methods that predict the
in-focus region as white invert the CUHK masks before scoring. ``gt_white="sharp"`` flips it for
re-annotated copies that use the other convention.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cv2
import torch

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.download import DownloadSpec, Source, register_download
from blurbench.datamodules.paired import PairedDataModule, rel_id, sorted_images
from blurbench.errors import ConfigError, DataError

__all__ = ["CATEGORIES", "CUHKBlurDetection", "load_mask"]

#: category -> number of images in the official release
CATEGORIES = {"motion": 296, "out_of_focus": 704}
_NAME = re.compile(r"^(motion|out_of_focus)(\d+)$")


def load_mask(path: Path, white: str = "blurred") -> torch.Tensor:
    """Read a GT mask as [1, H, W] float32, 1 = blurred (``white`` says what the file's white pixels mark)."""
    arr = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if arr is None:
        raise DataError(f"{path}: unreadable mask", "re-download BlurDatasetGT.zip")
    on = torch.from_numpy(arr > 127)
    blurred = ~on if white == "sharp" else on
    return blurred.float()[None]


class CUHKBlurDetection(PairedDataModule):
    """One category of the CUHK blur-detection release; splits ``train`` (odd), ``test`` (even), ``all``.

    Args:
        root: the folder holding ``image/`` and ``gt/``.
        split: ``"test"`` (default), ``"train"`` or ``"all"``.
        category: ``"motion"`` or ``"out_of_focus"``.
        gt_white: what white GT pixels mark, ``"blurred"`` (default, the official release) or ``"sharp"``.
        allow_subset, limit, exclude, num_workers: see :class:`~blurbench.datamodules.paired.PairedDataModule`.
    """

    name = "cuhk-motion"
    kind = "detection"
    protocol = "per-image AP (scikit-learn step-wise), IoU/F1 at score >= 0.5; mean over images"
    top_folders = ("BlurDataset", "blurdetect")

    def __init__(self, root: str | Path, split: str | None = None, *, category: str = "motion",
                 gt_white: str = "blurred", **kwargs: Any) -> None:
        if category not in CATEGORIES:
            raise ConfigError(f"unknown CUHK category '{category}'", f"choose one of: {', '.join(CATEGORIES)}")
        if gt_white not in ("sharp", "blurred"):
            raise ConfigError(f"gt_white must be 'sharp' or 'blurred', got '{gt_white}'",
                              "say what the white pixels of the GT masks mark")
        self.category, self.gt_white = category, gt_white
        total = CATEGORIES[category]
        self.official_counts = {"test": total // 2, "train": total - total // 2, "all": total}
        super().__init__(root, split, **kwargs)

    def _stems(self, folder: str) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for path in sorted_images(self.root / folder):
            m = _NAME.match(path.stem)
            if m and m.group(1) == self.category:
                if path.stem in found:
                    raise DataError(f"{path}: two files for {path.stem} in {folder}/ ({found[path.stem].name})",
                                    "keep one file per image")
                found[path.stem] = path
        return found

    def list_records(self, split: str) -> list[PairRecord]:
        for folder in ("image", "gt"):
            if not (self.root / folder).is_dir():
                raise DataError(f"{self.root / folder}: not found",
                                "unpack BlurDatasetImage.zip (image/) and BlurDatasetGT.zip (gt/) into the root")
        images, masks = self._stems("image"), self._stems("gt")
        records = []
        for stem in sorted(set(images) | set(masks)):
            number = int(_NAME.match(stem).group(2))
            if split != "all" and (number % 2 == 0) != (split == "test"):
                continue
            image = images.get(stem, self.root / "image" / f"{stem}.jpg")
            mask = masks.get(stem, self.root / "gt" / f"{stem}.png")
            records.append(PairRecord(rel_id(image, self.root), image, None, {"files": [mask], "mask": mask}))
        return records

    def load_extras(self, rec: PairRecord) -> dict[str, Any]:
        return {"mask": load_mask(rec.extras["mask"], self.gt_white)}

    def score(self, restored: torch.Tensor, batch: dict[str, Any]) -> list[dict[str, float]]:
        raise ConfigError(f"{self.name} is a blur-detection dataset", "evaluate blur-detection methods on it")


register_download(DownloadSpec(
    "cuhk",
    # no sha256 is published; the digest measured at download time is recorded instead
    sources=(Source("http://www.cse.cuhk.edu.hk/leojia/projects/dblurdetect/data/BlurDatasetImage.zip"),
             Source("http://www.cse.cuhk.edu.hk/leojia/projects/dblurdetect/data/BlurDatasetGT.zip")),
    homepage="http://www.cse.cuhk.edu.hk/leojia/projects/dblurdetect/",
))
