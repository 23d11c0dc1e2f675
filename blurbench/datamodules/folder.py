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
from blurbench.datamodules.registry import DatasetSpec, register_dataset
from blurbench.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header, or None if it is not a readable image."""
    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            return im.size
    except Exception:  # PIL raises many types for bad files; all mean "unreadable"
        return None


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
            size = image_size(path)
            if size is None:
                problems.append(f"{path}: unreadable image (corrupt or truncated)")
            sizes.append(size)
        if len(sizes) == 2 and None not in sizes and sizes[0] != sizes[1]:
            problems.append(f"{rec.blurry}: size {sizes[0][0]}x{sizes[0][1]} differs from {rec.sharp} "
                            f"{sizes[1][0]}x{sizes[1][1]}")
    return problems


class FolderPairsDataModule(EvaluationDataModule):
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

    def check(self) -> list[str]:
        return check_pairs(self._records())

    def build_test_dataset(self) -> PairedImageDataset:
        return PairedImageDataset(self._records())


register_dataset(DatasetSpec("folder", "pairs", "image", lambda root, **kw: FolderPairsDataModule(root, **kw),
                             "your own pairs: ROOT/blurry/* and ROOT/sharp/* with matching names",
                             needs_root=True))
