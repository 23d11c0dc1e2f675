"""The built-in video datasets: blurry clips rendered from scikit-image's photos the GVD paper's way.

Each clip is a high-frame-rate sequence made from one photograph (smooth camera motion plus a moving
foreground layer, :func:`blurbench.ops.video_synthesis.make_blurry_clip`), averaged ``k`` sub-frames per
output frame (duty cycle τ = k/(k+1)), with ground-truth sharp frames and forward/backward optical flows.
Files per clip: ``blurry/NNN.png``, ``sharp/NNN.png``, ``gt.safetensors`` (``flow_fw``, ``flow_bw``
[T, 2, H, W] in pixels, ``flow_fw[t]`` maps frame t to t+1; ``tau``).

``video``: 4 small clips (96×128, camera 2–6 px/frame). ``video-large`` (issue 19): 3 clips per split at 256×320,
camera motion 10–30 px/frame, rendered from the photos at their own resolution (not the 256-px copies), with a
moving object in two clips and a defocus (Gaussian σ, TPAMI Table 1's kind) in two — sizes and motions where a
schedule chosen on the small clips no longer fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from blurbench.datamodules.base import EvaluationDataModule, PairRecord
from blurbench.datamodules.builtin import (
    PHOTOS,
    BuiltinDataset,
    dataset_dir,
    load_photo,
    load_val_photo,
    prepare,
    register_builtin,
    split_items,
    verify,
)
from blurbench.errors import DataError
from blurbench.io import read_image, write_image
from blurbench.ops.video_synthesis import make_blurry_clip

#: clips in the dataset (photos), frames per clip, frame size (H, W), HFR sub-frames averaged per frame
CLIP_PHOTOS = PHOTOS[:4]
N_FRAMES = 5
SIZE = (96, 128)
SUBFRAMES = 7

Loader = Callable[[], np.ndarray]


def _clip_items(split: str) -> list[tuple[str, Loader]]:
    """(id, image loader) of the clips of ``split``: test the first four photos, val one crop per val photo."""
    items = split_items(split)
    return items[:len(CLIP_PHOTOS)] if split == "test" else items[::2]


#: ``video-large``: photos at full resolution (test: benchmark photos, val: val photos), one clip each
LARGE_PHOTOS = {"test": ("astronaut", "coffee", "motorcycle_left"), "val": ("china", "flower", "camera")}


def _large_items(split: str) -> list[tuple[str, Loader]]:
    split_items(split)  # unknown split: one-line error
    load = partial(load_photo, long_side=None) if split == "test" else load_val_photo
    return [(p, partial(load, p)) for p in LARGE_PHOTOS[split]]


@dataclass(frozen=True)
class ClipSet:
    """A built-in video dataset: which clips, their size and frames, and the motion and defocus of clip ``i``.

    ``recipes[i % len(recipes)]`` is ``(moving object, Gaussian σ before averaging or None)``; ``motion`` goes to
    :func:`~blurbench.ops.video_synthesis.make_blurry_clip` (``camera_speed``, ``object_speed`` in px/frame).
    """

    name: str
    items: Callable[[str], list[tuple[str, Loader]]]
    n_frames: int
    size: tuple[int, int]
    subframes: int
    motion: dict[str, Any] = field(default_factory=dict)
    recipes: tuple[tuple[bool, float | None], ...] = ()

    def clip_ids(self, split: str) -> list[str]:
        return [i for i, _ in self.items(split)]

    def describe(self, split: str = "test") -> str:
        h, w = self.size
        return (f"{len(self.items(split))} clips x {self.n_frames} frames ({w}x{h}), camera motion + moving layer, "
                f"{self.subframes} HFR sub-frames averaged, GT flows")


SMALL = ClipSet("video", _clip_items, N_FRAMES, SIZE, SUBFRAMES)
# Cost: `gvd` ~13 s/frame on one thread (AMD EPYC, the other core busy): ~3.2 min per split (gvd-2015 2.9, gvd-no-
# temporal 2.6), the reason for 3 clips of 5 frames (one window each). Speeds are drawn for the first sub-frame and
# grow by up to 0.15 per frame interval: GT flows of 6-29 px/frame on the six clips (means 11-19, p95 15-25).
LARGE = ClipSet("video-large", _large_items, 5, (256, 320), 7,
                motion={"camera_speed": (10.0, 20.0), "object_speed": (8.0, 18.0), "acceleration": 0.15},
                recipes=((True, None), (False, 1.0), (True, 1.0)))


def clip_ids(split: str) -> list[str]:
    return SMALL.clip_ids(split)


def _generate(out: Path, seed: int, split: str = "test", clips: ClipSet = SMALL) -> list[str]:
    written = []
    for index, (photo, load) in enumerate(clips.items(split)):
        rng = np.random.default_rng([seed, index])
        extra: dict[str, Any] = dict(clips.motion)
        if clips.recipes:  # the small set passes nothing more: its bytes stay those of version 2
            with_object, sigma = clips.recipes[index % len(clips.recipes)]
            extra.update(with_object=with_object, gaussian_sigma=sigma)
        clip = make_blurry_clip(load(), rng, n_frames=clips.n_frames, k=clips.subframes, size=clips.size, **extra)
        for t in range(clips.n_frames):
            for kind in ("blurry", "sharp"):
                rel = f"{photo}/{kind}/{t:03d}.png"
                write_image(out / rel, clip[kind][t])
                written.append(rel)
        save_file({"flow_fw": clip["flow_fw"].float().contiguous(), "flow_bw": clip["flow_bw"].float().contiguous(),
                   "tau": torch.tensor([float(clip["tau"])])}, str(out / photo / "gt.safetensors"))
        written.append(f"{photo}/gt.safetensors")
    return written


class _Clips(Dataset):
    def __init__(self, root: Path, ids: list[str], n_frames: int = N_FRAMES) -> None:
        self.root = root
        self.n_frames = n_frames
        self.records = [PairRecord(p, root / p / "blurry", root / p / "sharp") for p in ids]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.records[i]
        names = [f"{t:03d}.png" for t in range(self.n_frames)]
        gt_path = self.root / rec.id / "gt.safetensors"
        try:
            gt = load_file(str(gt_path))
        except Exception as err:  # safetensors raises several types for corrupt files
            raise DataError(f"{gt_path}: unreadable ({err})", "run `blurbench data prepare builtin --force`") from None
        return {"id": rec.id, "names": names,
                "blurry": torch.stack([read_image(rec.blurry / n) for n in names]),
                "sharp": torch.stack([read_image(rec.sharp / n) for n in names]),
                "flow_fw": gt["flow_fw"], "flow_bw": gt["flow_bw"], "tau": gt["tau"]}


class BuiltinVideoDataModule(EvaluationDataModule):
    """Whole clips (``blurry``/``sharp`` [T, 3, H, W], GT flows, τ); every frame is scored."""

    kind = "video"
    protocol = "psnr-ssim per frame (uint8 RGB, Gaussian SSIM), EPE of forward flows"

    def __init__(self, split: str = "test", clips: ClipSet = SMALL, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        split_items(split)  # unknown split: one-line error
        self.split = split
        self.clips = clips
        self.name = clips.name

    def prepare_data(self) -> None:
        prepare(self.name, split=self.split)

    def check(self) -> list[str]:
        return verify(self.name, self.split)

    def build_test_dataset(self) -> _Clips:
        return _Clips(dataset_dir(self.name, self.split), self.clips.clip_ids(self.split), self.clips.n_frames)


def datamodule(data_root: Any = None, **kwargs: Any) -> BuiltinVideoDataModule:
    """The registry's factory for ``video`` (generated data: ``data_root`` is unused)."""
    return BuiltinVideoDataModule(**kwargs)


def large_datamodule(data_root: Any = None, **kwargs: Any) -> BuiltinVideoDataModule:
    """The registry's factory for ``video-large``."""
    return BuiltinVideoDataModule(clips=LARGE, **kwargs)


register_builtin(BuiltinDataset("video", "video", 3, _generate, SMALL.describe()))
# seed 4: its own (the image sets use 1-2, video 3, detection its own)
register_builtin(BuiltinDataset("video-large", "video", 4, partial(_generate, clips=LARGE),
                                LARGE.describe() + ", camera 10-30 px/frame, defocus in 2 of 3"))
