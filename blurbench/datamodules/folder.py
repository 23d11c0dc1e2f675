"""Your own pairs: ``ROOT/blurry/<name>`` and ``ROOT/sharp/<name>`` with matching relative paths.

Sample ids are the relative paths under ``blurry/`` (stable across machines); order is sorted by id.
``check()`` reads only image headers (fast) and reports missing partners, unreadable files and size
mismatches, one line each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from blurbench.datamodules.base import EvaluationDataModule, PairedImageDataset, PairRecord
from blurbench.errors import DataError
from blurbench.io import truncation

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def image_info(path: Path) -> tuple[int, int, int] | None:
    """(width, height, colour bands) from the file header, or None if it is not a readable, complete image."""
    try:
        if truncation(path):
            return None
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            bands = len(im.getbands()) - ("A" in im.getbands())
            return (*im.size, bands)
    except Exception:  # PIL raises many types for bad files; all mean "unreadable"
        return None


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header, or None if it is not a readable, complete image."""
    info = image_info(path)
    return None if info is None else info[:2]


def list_images(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def check_pairs(records: list[PairRecord]) -> list[str]:
    """Missing, unreadable or size-mismatched files among ``records``, one line each."""
    problems = []
    for rec in records:
        sizes = []
        for path in (rec.blurry, rec.sharp):
            if path is None:
                continue
            if not path.is_file():
                problems.append(f"{path}: missing")
                continue
            info = image_info(path)
            if info is None:
                problems.append(f"{path}: unreadable image ({truncation(path) or 'corrupt or truncated'})")
            sizes.append(info)
        if len(sizes) == 2 and None not in sizes and sizes[0][:2] != sizes[1][:2]:
            problems.append(f"{rec.blurry}: size {sizes[0][0]}x{sizes[0][1]} differs from {rec.sharp} "
                            f"{sizes[1][0]}x{sizes[1][1]}")
        elif len(sizes) == 2 and None not in sizes and (sizes[0][2] == 1) != (sizes[1][2] == 1):
            grey, colour = (rec.blurry, rec.sharp) if sizes[0][2] == 1 else (rec.sharp, rec.blurry)
            # refused rather than silently replicating the grey channel: PSNR would compare grey with colour
            problems.append(f"{grey}: greyscale, but its partner {colour} is in colour — save both in the same "
                            f"colour mode (both RGB, or both grey)")
    return problems


class ListedFilesDataModule(EvaluationDataModule):
    """An evaluation datamodule whose samples are the records its ``_records()`` lists from a folder: it checks them
    (``data check``: the count and every problem) and serves them as they are."""

    def _records(self) -> list[PairRecord]:
        raise NotImplementedError

    def check(self) -> list[str]:
        return check_pairs(self._records())

    def check_all(self) -> tuple[dict[str, int], list[str]]:
        records = self._records()
        return {"all": len(records)}, check_pairs(records)

    def build_test_dataset(self) -> PairedImageDataset:
        return PairedImageDataset(self._records())


class FolderPairsDataModule(ListedFilesDataModule):
    kind = "image"
    protocol = "psnr-ssim (uint8 RGB, Gaussian SSIM)"
    split = "all"

    def __init__(self, root: str | Path, name: str = "pairs", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = Path(root)
        self.name = name

    def _records(self) -> list[PairRecord]:
        blurry_dir = self.root / "blurry"
        if not blurry_dir.is_dir():
            raise DataError(f"{blurry_dir}: not found", "the folder suite expects ROOT/blurry/ and ROOT/sharp/")
        names = list_images(blurry_dir)
        if not names:
            raise DataError(f"{blurry_dir}: no images", "put blurry images (png/jpg) there")
        return [PairRecord(n, blurry_dir / n, self.root / "sharp" / n) for n in names]



def check_folder(root: str | Path, **_: Any) -> FolderPairsDataModule:
    """``data check pairs|folder --root ROOT``: a plain folder has no official counts (``--allow-subset`` is moot)."""
    return FolderPairsDataModule(root)
