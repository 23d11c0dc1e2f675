"""Video clips as sliding windows over the frames of on-disk paired video datasets (DVD, GoPro, REDS, …).

A video sample (``kind = "video"``)::

    id      str            the centre frame's id (its blurry file relative to the dataset root)
    blurry  [T, 3, H, W]   frames centre−T//2 … centre+T//2 of one clip, float32 RGB in [0, 1]
    sharp   [T, 3, H, W]   (when the split has ground truth)
    flow    [T, 2, H, W]   (when the dataset ships ground-truth flow: frame t → t+1, pixels)
    centre  int            index of the centre frame in the window (T // 2)

Test: every frame of every clip is the centre of exactly one window (T odd), so each frame is scored once;
windows at clip ends repeat the edge frame (index clamping, as EDVR/BasicSR's ``generate_frame_indices``
with ``padding="replicate"``). Train: random windows lying fully inside a clip, random aligned crops.
Scores compare the restored centre frame with ``sharp[:, centre]``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.paired import PairedDataModule, RandomCrop, load_frame, score_pairs
from blurbench.errors import ConfigError, DataError
from blurbench.io import read_image
from blurbench.metrics.protocols import read_flo

__all__ = ["ClipWindowDataset", "VideoDataModule", "window_indices"]


def window_indices(centre: int, length: int, num_frames: int) -> list[int]:
    """Frame indices of a ``length``-frame window centred on ``centre``, clamped to ``[0, num_frames)``."""
    half = length // 2
    return [min(max(i, 0), num_frames - 1) for i in range(centre - half, centre - half + length)]


class ClipWindowDataset(Dataset):
    """Windows of ``length`` frames over clips (see the module docstring); ``train`` = inner windows only."""

    def __init__(self, clips: dict[str, list[PairRecord]], length: int, *, train: bool = False, stride: int = 1,
                 gamma: float = 1.0, transform=None) -> None:
        if length < 1 or (not train and length % 2 == 0):
            raise ConfigError(f"window length {length} must be odd for evaluation", "pass an odd window, e.g. 5")
        self.clips = {k: clips[k] for k in sorted(clips)}
        self.length, self.gamma, self.transform, self.train = length, gamma, transform, train
        self.windows: list[tuple[str, list[int], int]] = []
        for name, frames in self.clips.items():
            n = len(frames)
            if train:
                for start in range(0, n - length + 1, stride):
                    idx = list(range(start, start + length))
                    self.windows.append((name, idx, idx[length // 2]))
            else:
                for centre in range(n):
                    self.windows.append((name, window_indices(centre, length, n), centre))
        # evaluation order and ids follow the flattened records (stable, one per frame)
        self.records = [self.clips[name][c] for name, _, c in self.windows]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        name, idx, centre = self.windows[index]
        frames = [self.clips[name][i] for i in idx]
        sample: dict[str, Any] = {"id": self.clips[name][centre].id,
                                  "blurry": torch.stack([load_frame(f.blurry, self.gamma) for f in frames]),
                                  "centre": len(idx) // 2}
        if all(f.sharp is not None for f in frames):
            sample["sharp"] = torch.stack([read_image(f.sharp) for f in frames])
            if sample["sharp"].shape != sample["blurry"].shape:
                raise DataError(f"{frames[0].sharp}: clip frames differ in size from their blurry frames",
                                "run `blurbench data check NAME --root ROOT` on the dataset")
        if all("flow" in f.extras for f in frames):
            sample["flow"] = torch.stack([read_flo(f.extras["flow"]) for f in frames])
        return self.transform(sample) if self.transform is not None else sample


class VideoDataModule(PairedDataModule):
    """Sliding-window video version of a paired dataset whose subclass implements ``list_clips``.

    Args:
        window: frames per sample (odd; default 5, i.e. two neighbours each side as in DVD and GVD).
        train_stride: step between training windows.
    """

    kind = "video"

    def __init__(self, root, split: str | None = None, *, window: int = 5, train_stride: int = 1,
                 **kwargs: Any) -> None:
        super().__init__(root, split, **kwargs)
        self.window = window
        self.train_stride = train_stride

    def build_test_dataset(self) -> Dataset:
        return ClipWindowDataset(self.list_clips(self.split_name), self.window, gamma=self.gamma)

    def score(self, restored: torch.Tensor, batch: dict[str, Any]) -> list[dict[str, float]]:
        """PSNR/SSIM of the restored centre frames [N, 3, H, W] (or full windows [N, T, 3, H, W])."""
        if "sharp" not in batch:
            raise ConfigError(f"{self.name} split '{self.split_name}' has no ground truth",
                              "score a split with ground truth, or use `blurbench predict`")
        centre = batch["sharp"].shape[1] // 2
        if restored.ndim == 5:
            restored = restored[:, centre]
        return score_pairs(restored, batch["sharp"][:, centre], self.ssim_convention)

    def make_train_dataset(self, split: str) -> Dataset:
        ds = ClipWindowDataset(self.list_clips(split), self.window, train=True, stride=self.train_stride,
                               gamma=self.gamma, transform=RandomCrop(self.crop_size))
        if len(ds) == 0:
            raise DataError(f"{self.root}: no clip of split '{split}' has {self.window} frames",
                            "pass a shorter window")
        return ds


def video_variant(image_cls: type[PairedDataModule], name: str) -> type[VideoDataModule]:
    """The video (sliding-window) twin of an image datamodule class that implements ``list_clips``."""
    return type(f"{image_cls.__name__}Video", (VideoDataModule, image_cls), {"name": name, "kind": "video"})

