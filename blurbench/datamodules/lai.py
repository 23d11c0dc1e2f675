"""Lai, Huang, Hu, Ahuja, Yang, CVPR 2016: "A comparative study for single image blind deblurring".

Layout (``Benchmark/`` may wrap it)::

    real_dataset/*.{jpg,png}                                  100 real blurry images, no ground truth
    synthetic_dataset/ground_truth/{cat}_0{i}.png             5 categories × 5 images
    synthetic_dataset/kernel/kernel_0{k}.png                  4 uniform kernels
    synthetic_dataset/uniform/{cat}_0{i}_kernel_0{k}.png      100 uniformly blurred images
    synthetic_dataset/nonuniform/{cat}_0{i}_kernel_0{k}.png   non-uniform set (folder name and count unverified)

Categories: manmade, natural, people, saturated, text. Uniform samples carry their ground-truth kernel as
``kernels`` [1, K, K] (normalised to sum 1) for kernel-estimation methods. Ids: relative blurry paths.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.download import DownloadSpec, register_download
from blurbench.datamodules.paired import PairedDataModule, register, rel_id, sorted_images
from blurbench.errors import DataError

CATEGORIES = ("manmade", "natural", "people", "saturated", "text")
#: uniform: 5 categories × 5 images × 4 kernels; nonuniform (unverified); real: 100 images
OFFICIAL_COUNTS: dict[str, int | None] = {"uniform": 100, "nonuniform": None, "real": 100}
_NAME = re.compile(r"(?P<image>.+_\d+)_kernel_(?P<kernel>\d+)\.png")


class Lai(PairedDataModule):
    name = "lai-uniform"
    official_counts = OFFICIAL_COUNTS
    default_split = "uniform"
    train_split = "none"
    top_folders = ("Benchmark",)
    optional_splits = ("nonuniform",)  # folder name unverified

    def list_records(self, split: str) -> list[PairRecord]:
        if split == "real":
            base = self.root / "real_dataset"
            if not base.is_dir():
                raise DataError(f"{base}: not found", "expected real_dataset/*.jpg")
            return [PairRecord(rel_id(p, self.root), p) for p in sorted_images(base)]
        syn = self.root / "synthetic_dataset"
        base = syn / split
        if not base.is_dir():
            raise DataError(f"{base}: not found", f"expected synthetic_dataset/{split}/<cat>_0<i>_kernel_0<k>.png")
        names = {p.name for p in sorted_images(base) if _NAME.fullmatch(p.name)}
        if split == "uniform":  # every ground-truth image × every kernel, so a missing blurry file is reported
            names |= {f"{g.stem}_{k.stem}.png" for g in sorted_images(syn / "ground_truth")
                      for k in sorted_images(syn / "kernel") if re.fullmatch(r"kernel_\d+", k.stem)}
        records = []
        for name in sorted(names):
            p = base / name
            m = _NAME.fullmatch(name)
            extras: dict[str, Any] = {}
            if split == "uniform":
                kernel = syn / "kernel" / f"kernel_{m['kernel']}.png"
                extras = {"kernel": kernel, "files": (kernel,), "unsized": (kernel,)}
            records.append(PairRecord(rel_id(p, self.root), p, syn / "ground_truth" / f"{m['image']}.png", extras))
        return records

    def load_extras(self, rec: PairRecord) -> dict[str, Any]:
        if "kernel" not in rec.extras:
            return {}
        import cv2

        k = cv2.imread(str(rec.extras["kernel"]), cv2.IMREAD_GRAYSCALE)
        if k is None:
            raise DataError(f"{rec.extras['kernel']}: unreadable kernel image", "re-download the dataset")
        k = k.astype(np.float64)
        return {"kernels": torch.from_numpy(k / max(k.sum(), 1e-12)).float()[None]}


register("lai", "lai-uniform", Lai, "Lai 2016 synthetic uniform set (100 images, GT kernels)", split="uniform")
register("lai", "lai-nonuniform", Lai, "Lai 2016 synthetic non-uniform set", split="nonuniform")
register_download(DownloadSpec(
    "lai", licence="research use; distributed by the authors",
    homepage="http://vllab.ucmerced.edu/wlai24/cvpr16_deblur_study/",
    manual="download the benchmark from http://vllab.ucmerced.edu/wlai24/cvpr16_deblur_study/ and unpack it into "
           "--root (real_dataset/ and synthetic_dataset/)",
))
register("lai", "lai", Lai, "Lai 2016: uniform, non-uniform and real sets", evaluate=False)
