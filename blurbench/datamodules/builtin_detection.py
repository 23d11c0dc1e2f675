"""Built-in blur-detection suite: partially blurred photos with exact ground-truth blur masks.

Each of the suite's scikit-image photos (long side 256 px) gets 1–3 random object-like regions
(:func:`blurbench.ops.regions.random_regions`), each blurred with its own object-motion kernel whose
``‖k‖₂ ≤ 0.18`` — clearly blurrier than the 0.25 threshold of field-based detection —, while the rest stays
sharp (a delta kernel, ``‖k‖₂ = 1``). Mixing maps are the hard region masks, so the forward model
``blurbench.ops.reblur`` (reflect padding) gives the blurry image and the ground-truth mask is exactly the union
of the blurred regions. Stored per photo: ``blurry.png`` (8-bit), ``mask.png`` (255 = blurred) and
``field.safetensors`` (``kernels`` [B, K, K], ``mixing`` [B, H, W]); samples carry ``blurry``, ``mask``
[1, H, W] (1 = blurred), ``kernels`` and ``mixing``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from blurbench.datamodules.base import EvaluationDataModule, PairedImageDataset, PairRecord
from blurbench.datamodules.builtin import (
    KERNEL_SIZE,
    BuiltinDataset,
    _load_field,
    dataset_dir,
    prepare,
    register_builtin,
    split_ids,
    split_items,
    verify,
)
from blurbench.datamodules.cuhk import load_mask
from blurbench.io import write_image
from blurbench.ops.kernels import delta_kernel, object_kernel
from blurbench.ops.reblur import reblur
from blurbench.ops.regions import random_regions

NAME = "detection"
SEED = 7
MAX_REGIONS = 3
#: every blurred region's kernel has at most this L2 norm (detection threshold 0.25)
MAX_BLUR_NORM = 0.18


def _blur_kernel(rng: np.random.Generator) -> np.ndarray:
    """An object-motion kernel with ``‖k‖₂ ≤ MAX_BLUR_NORM`` (redrawn, longer, until it is)."""
    for attempt in range(20):
        length = rng.uniform(20.0, KERNEL_SIZE - 2.0) + attempt
        k = object_kernel(min(length, KERNEL_SIZE - 2.0), rng.uniform(0, 360), turn=rng.uniform(-60, 60),
                          accel=rng.uniform(0, 1), size=KERNEL_SIZE)
        if np.linalg.norm(k) <= MAX_BLUR_NORM:
            return k.astype(np.float32)
    raise RuntimeError("could not draw a blurry enough kernel")  # pragma: no cover - lengths 31 have norm ~0.18


def generate_detection(out: Path, seed: int, split: str = "test") -> list[str]:
    """Write the suite into ``out`` (see the module docstring); returns the relative paths written."""
    written = []
    for index, (photo, load) in enumerate(split_items(split)):
        rng = np.random.default_rng([seed, index])
        sharp_u8 = load()
        h, w = sharp_u8.shape[:2]
        regions = random_regions(h, w, int(rng.integers(1, MAX_REGIONS + 1)), rng, min_area=3000,
                                 max_area_fraction=0.3)
        blurred = np.zeros((h, w), bool)
        for r in regions:
            blurred |= r
        kernels = np.stack([delta_kernel(KERNEL_SIZE).astype(np.float32)] + [_blur_kernel(rng) for _ in regions])
        mixing = np.stack([~blurred] + list(regions)).astype(np.float32)
        sharp = torch.from_numpy(sharp_u8.astype(np.float32) / 255).permute(2, 0, 1).contiguous()
        k_t, m_t = torch.from_numpy(kernels), torch.from_numpy(mixing)
        with torch.no_grad():
            blurry = reblur(sharp[None], k_t[None], m_t[None], padding="reflect")[0]
        item = out / photo
        item.mkdir(parents=True, exist_ok=True)
        write_image(item / "blurry.png", blurry.clamp(0, 1))
        write_image(item / "mask.png", blurred.astype(np.uint8) * 255)
        save_file({"kernels": k_t.contiguous(), "mixing": m_t.contiguous()}, str(item / "field.safetensors"),
                  metadata={"convention": "cross-correlation (F.conv2d), reflect padding"})
        written += [f"{photo}/blurry.png", f"{photo}/mask.png", f"{photo}/field.safetensors"]
    return written


def _load(rec: PairRecord) -> dict[str, Any]:
    return {"mask": load_mask(rec.extras["mask"], white="blurred"), **_load_field(rec)}


class BuiltinDetectionDataModule(EvaluationDataModule):
    """The built-in blur-detection dataset (generated into the cache on first use)."""

    name = NAME
    kind = "detection"
    protocol = "per-image AP (scikit-learn step-wise), IoU/F1 at score >= 0.5; mean over images"

    def __init__(self, split: str = "test", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        split_items(split)  # unknown split: one-line error
        self.split = split

    def prepare_data(self) -> None:
        prepare(NAME, split=self.split)

    def check(self) -> list[str]:
        return verify(NAME, self.split)

    def build_test_dataset(self) -> PairedImageDataset:
        root = dataset_dir(NAME, self.split)
        records = [PairRecord(id=p, blurry=root / p / "blurry.png",
                              extras={"mask": root / p / "mask.png", "field": root / p / "field.safetensors"})
                   for p in split_ids(self.split)]
        return PairedImageDataset(records, load_extras=_load)


def datamodule(data_root: Any = None, **kwargs: Any) -> BuiltinDetectionDataModule:
    """The registry's factory (generated data: ``data_root`` is unused)."""
    return BuiltinDetectionDataModule(**kwargs)


register_builtin(
    BuiltinDataset(NAME, "detection", SEED, generate_detection,
                   "8 photos, 1-3 regions with object-motion blur (|k|_2 <= 0.18), rest sharp; exact GT masks"),
)
