"""Inputs without ground truth for ``blurbench predict``: single images, folders of images, frame sequences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from blurbench.datamodules.base import EvaluationDataModule, PairRecord
from blurbench.datamodules.folder import IMAGE_SUFFIXES, check_pairs, list_images
from blurbench.errors import DataError
from blurbench.io import read_image


def _list_inputs(path: Path) -> tuple[Path, list[str]]:
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(f"{path}: not an image file", f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
        return path.parent, [path.name]
    if not path.is_dir():
        raise DataError(f"{path}: not found", "pass an image file or a folder of images to --input")
    names = list_images(path)
    if not names:
        raise DataError(f"{path}: no images found", "the folder must hold png/jpg/bmp/tif files")
    return path, names


class _Images(Dataset):
    def __init__(self, root: Path, names: list[str]) -> None:
        self.root, self.names = root, names

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"id": self.names[i], "blurry": read_image(self.root / self.names[i])}


class ImageInputsDataModule(EvaluationDataModule):
    """Each image of ``path`` (a file or a folder, recursively, sorted) is one sample; id = relative name."""

    kind = "image"
    split = "inputs"

    def __init__(self, path: str | Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root, self.names = _list_inputs(Path(path))
        self.name = self.root.name

    def check(self) -> list[str]:
        return check_pairs([PairRecord(n, self.root / n) for n in self.names])

    def build_test_dataset(self) -> _Images:
        ds = _Images(self.root, self.names)
        ds.records = [PairRecord(n, self.root / n) for n in self.names]
        return ds


class _Clip(Dataset):
    def __init__(self, root: Path, names: list[str]) -> None:
        self.root, self.names = root, names

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> dict[str, Any]:
        frames = torch.stack([read_image(self.root / n) for n in self.names])
        return {"id": self.root.name, "blurry": frames, "names": self.names}


class FrameSequenceDataModule(ImageInputsDataModule):
    """A folder of frames (sorted by name) as one clip ``blurry`` [T, 3, H, W]; ``names`` keeps the file names."""

    kind = "video"

    def build_test_dataset(self) -> _Clip:
        ds = _Clip(self.root, self.names)
        ds.records = [PairRecord(self.root.name, self.root)]
        return ds
