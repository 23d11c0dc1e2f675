"""The built-in video dataset: blurry clips rendered from scikit-image's photos the GVD paper's way.

Each clip is a high-frame-rate sequence made from one photograph (smooth camera motion plus a moving
foreground layer, :func:`blurbench.ops.video_synthesis.make_blurry_clip`), averaged ``k`` sub-frames per
output frame (duty cycle τ = k/(k+1)), with ground-truth sharp frames and forward/backward optical flows.
Files per clip: ``blurry/NNN.png``, ``sharp/NNN.png``, ``gt.safetensors`` (``flow_fw``, ``flow_bw``
[T, 2, H, W] in pixels, ``flow_fw[t]`` maps frame t to t+1; ``tau``).
"""

from __future__ import annotations

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

def _clip_items(split: str) -> list:
    """(id, image loader) of the clips of ``split``: test the first four photos, val one crop per val photo."""
    items = split_items(split)
    return items[:len(CLIP_PHOTOS)] if split == "test" else items[::2]
N_FRAMES = 5
SIZE = (96, 128)
SUBFRAMES = 7


def clip_ids(split: str) -> list[str]:
    return [i for i, _ in _clip_items(split)]


def _generate(out: Path, seed: int, split: str = "test") -> list[str]:
    written = []
    for index, (photo, load) in enumerate(_clip_items(split)):
        rng = np.random.default_rng([seed, index])
        clip = make_blurry_clip(load(), rng, n_frames=N_FRAMES, k=SUBFRAMES, size=SIZE)
        for t in range(N_FRAMES):
            for kind in ("blurry", "sharp"):
                rel = f"{photo}/{kind}/{t:03d}.png"
                write_image(out / rel, clip[kind][t])
                written.append(rel)
        save_file({"flow_fw": clip["flow_fw"].float().contiguous(), "flow_bw": clip["flow_bw"].float().contiguous(),
                   "tau": torch.tensor([float(clip["tau"])])}, str(out / photo / "gt.safetensors"))
        written.append(f"{photo}/gt.safetensors")
    return written


class _Clips(Dataset):
    def __init__(self, root: Path, ids: list[str]) -> None:
        self.root = root
        self.records = [PairRecord(p, root / p / "blurry", root / p / "sharp") for p in ids]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.records[i]
        names = [f"{t:03d}.png" for t in range(N_FRAMES)]
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

    name = "video"
    kind = "video"
    protocol = "psnr-ssim per frame (uint8 RGB, Gaussian SSIM), EPE of forward flows"

    def __init__(self, split: str = "test", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        split_items(split)  # unknown split: one-line error
        self.split = split

    def prepare_data(self) -> None:
        prepare(self.name, split=self.split)

    def check(self) -> list[str]:
        return verify(self.name, self.split)

    def build_test_dataset(self) -> _Clips:
        return _Clips(dataset_dir(self.name, self.split), clip_ids(self.split))


def datamodule(data_root: Any = None, **kwargs: Any) -> BuiltinVideoDataModule:
    """The registry's factory (generated data: ``data_root`` is unused)."""
    return BuiltinVideoDataModule(**kwargs)


register_builtin(
    BuiltinDataset("video", "video", 3, _generate,
                   f"{len(CLIP_PHOTOS)} clips x {N_FRAMES} frames ({SIZE[1]}x{SIZE[0]}), camera motion + moving layer, "
                   f"{SUBFRAMES} HFR sub-frames averaged, GT flows"),
)
