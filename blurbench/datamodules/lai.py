"""Lai, Huang, Hu, Ahuja, Yang, CVPR 2016: "A comparative study for single image blind deblurring".

Layout (``Benchmark/`` may wrap it)::

    real_dataset/<name>.{jpg,png}                              100 real blurry images, no ground truth
    synthetic_dataset/ground_truth/{cat}_0{i}.png              5 categories × 5 images
    synthetic_dataset/kernel/kernel_0{k}.png                   4 uniform kernels (folder name unverified)
    synthetic_dataset/uniform/{cat}_0{i}_kernel_0{k}.png       100 uniformly blurred images
    synthetic_dataset/nonuniform/{cat}_0{i}_gyro_0{g}.png      100 non-uniformly blurred images (6-D camera shake)

Names and counts are the authors' (github.com/phoenix104104/cvpr16_deblur_study, ``list/``):
``ground_truth.txt`` (25 names), ``synthetic_uniform.txt`` (100 = 25 × ``kernel_01..04``),
``synthetic_nonuniform.txt`` (100 = 25 × ``gyro_01..04``, as in ``gyro.txt``; the first version of that list,
before the authors' "fix list" commit of May 2016, named the trajectories ``gyro_07/16/23/24``, so any
``_gyro_NN`` suffix is read), ``real.txt`` (100 names). The lists' second column is the kernel size the study
gave the blind methods (uniform 51/75/75/101 for kernels 1–4, non-uniform 25). The authors'
``run_synthesize_nonuniform.m`` writes the non-uniform set to ``output/nonuniform/`` (it reads
``synthetic_dataset/ground_truth`` and ``synthetic_dataset/gyro/gyro_0{g}/``), so that folder is read when
``synthetic_dataset/nonuniform/`` is absent. The ``synthetic_dataset/{uniform,nonuniform}`` folder names of the
downloaded archive are not given by any public file (unverified).

Categories: manmade, natural, people, saturated, text. Uniform samples carry their ground-truth kernel as
``kernels`` [1, K, K] (normalised to sum 1) for kernel-estimation methods. Ids: relative blurry paths.

``lai-uniform`` and ``lai-nonuniform`` read (and ``data check`` asks for) only their own set; ``lai`` checks all
three sets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.download import DownloadSpec, register_download
from blurbench.datamodules.paired import PairedDataModule, rel_id, sorted_images
from blurbench.errors import ConfigError, DataError

CATEGORIES = ("manmade", "natural", "people", "saturated", "text")
#: the authors' list files: uniform 25 images × 4 kernels, non-uniform 25 images × 4 trajectories, real 100
OFFICIAL_COUNTS: dict[str, int | None] = {"uniform": 100, "nonuniform": 100, "real": 100}
#: blurry file name -> (ground-truth image, blur) per synthetic set
_NAMES = {"uniform": re.compile(r"(?P<image>.+_\d+)_kernel_(?P<blur>\d+)\.png"),
          "nonuniform": re.compile(r"(?P<image>.+_\d+)_gyro_(?P<blur>\d+)\.png")}
#: where each synthetic set may be, in order: the dataset folder, then the authors' script output
_FOLDERS = {"uniform": ("synthetic_dataset/uniform",),
            "nonuniform": ("synthetic_dataset/nonuniform", "output/nonuniform")}


class Lai(PairedDataModule):
    """Lai et al. 2016 benchmark; ``sets`` are the sets this module reads and checks (default all three)."""

    name = "lai-uniform"
    official_counts = OFFICIAL_COUNTS
    default_split = "uniform"
    train_split = "none"
    top_folders = ("Benchmark",)

    def __init__(self, root: str | Path, split: str | None = None, *, sets: Sequence[str] = tuple(OFFICIAL_COUNTS),
                 **kwargs: Any) -> None:
        unknown = [s for s in sets if s not in OFFICIAL_COUNTS]
        if unknown or not sets:
            raise ConfigError(f"unknown Lai set(s) {unknown or list(sets)}",
                              f"choose from: {', '.join(OFFICIAL_COUNTS)}")
        self.sets = tuple(sets)
        super().__init__(root, split or self.sets[0], **kwargs)

    def splits(self) -> list[str]:
        return list(self.sets)

    def list_records(self, split: str) -> list[PairRecord]:
        if split == "real":
            base = self.root / "real_dataset"
            if not base.is_dir():
                raise DataError(f"{base}: not found", "expected real_dataset/<name>.jpg (the real set)")
            return [PairRecord(rel_id(p, self.root), p) for p in sorted_images(base)]
        syn = self.root / "synthetic_dataset"
        base = next((self.root / f for f in _FOLDERS[split] if (self.root / f).is_dir()), None)
        if base is None:
            blur = "kernel" if split == "uniform" else "gyro"
            raise DataError(f"{self.root / _FOLDERS[split][0]}: not found",
                            f"expected synthetic_dataset/{split}/<cat>_0<i>_{blur}_0<n>.png")
        pattern = _NAMES[split]
        names = {p.name for p in sorted_images(base) if pattern.fullmatch(p.name)}
        if split == "uniform":  # every ground-truth image × every kernel, so a missing blurry file is reported
            names |= {f"{g.stem}_{k.stem}.png" for g in sorted_images(syn / "ground_truth")
                      for k in sorted_images(syn / "kernel") if re.fullmatch(r"kernel_\d+", k.stem)}
        records = []
        for name in sorted(names):
            p = base / name
            m = pattern.fullmatch(name)
            extras: dict[str, Any] = {}
            if split == "uniform":
                kernel = syn / "kernel" / f"kernel_{m['blur']}.png"
                extras = {"kernel": kernel, "files": (kernel,), "unsized": (kernel,)}
            records.append(PairRecord(rel_id(p, self.root), p, syn / "ground_truth" / f"{m['image']}.png", extras))
        return records

    def load_extras(self, rec: PairRecord) -> dict[str, Any]:
        if "kernel" not in rec.extras:
            return {}

        k = cv2.imread(str(rec.extras["kernel"]), cv2.IMREAD_GRAYSCALE)
        if k is None:
            raise DataError(f"{rec.extras['kernel']}: unreadable kernel image", "re-download the dataset")
        k = k.astype(np.float64)
        return {"kernels": torch.from_numpy(k / max(k.sum(), 1e-12)).float()[None]}


register_download(DownloadSpec(
    "lai", licence="research use; distributed by the authors",
    homepage="http://vllab.ucmerced.edu/wlai24/cvpr16_deblur_study/",
    manual="download the benchmark from http://vllab.ucmerced.edu/wlai24/cvpr16_deblur_study/ and unpack it into "
           "--root (real_dataset/ and synthetic_dataset/)",
))
