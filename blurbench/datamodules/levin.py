"""Levin, Weiss, Durand, Freeman, CVPR 2009: 4 images × 8 kernels = 32 grayscale blurry images.

Layout: ``[Levin09blurdata/]im0{5..8}_flit0{1..8}.mat`` (MATLAB v5), each with ``x`` (sharp, 255×255),
``y`` (blurry) and ``f`` (the kernel). Grey images are replicated to 3 channels (the [3, H, W]
convention); the kernel is given as ``kernels`` [1, K, K] (normalised to sum 1). Ids: the ``.mat`` names.
The paper's own metric is the SSD error ratio of a non-blind deconvolution with the estimated vs the true
kernel; the default score here is PSNR/SSIM of the restored image.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.download import DownloadSpec, register_download
from blurbench.datamodules.paired import PairedDataModule, rel_id
from blurbench.errors import DataError

OFFICIAL_COUNTS = {"test": 32}
_NAME = re.compile(r"im\d+_flit\d+\.mat")


def read_levin(path: Path) -> dict[str, np.ndarray]:
    from scipy.io import loadmat  # deferred: scipy (.mat files only)

    try:
        mat = loadmat(str(path))
    except Exception as err:  # scipy raises several types for corrupt files
        raise DataError(f"{path}: unreadable .mat file ({type(err).__name__})", "re-download the dataset") from err
    missing = [k for k in ("x", "y", "f") if k not in mat]
    if missing:
        raise DataError(f"{path}: variables {', '.join(missing)} missing", "expected x (sharp), y (blurry), f (kernel)")
    return {k: np.asarray(mat[k], dtype=np.float64) for k in ("x", "y", "f")}


def _grey3(a: np.ndarray) -> torch.Tensor:
    a = a / 255.0 if a.max() > 1.5 else a  # some copies store 0..255
    t = torch.from_numpy(np.clip(a, 0, 1)).float()
    return t[None].expand(3, -1, -1).contiguous() if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


class _LevinDataset(Dataset):
    def __init__(self, records: list[PairRecord]) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        m = read_levin(rec.blurry)
        f = m["f"] / max(m["f"].sum(), 1e-12)
        sample = {"id": rec.id, "blurry": _grey3(m["y"]), "sharp": _grey3(m["x"]),
                  "kernels": torch.from_numpy(f).float()[None]}
        if sample["blurry"].shape != sample["sharp"].shape:
            raise DataError(f"{rec.blurry}: y {tuple(m['y'].shape)} and x {tuple(m['x'].shape)} differ in size",
                            "this copy of the dataset is not the official one")
        return sample


class Levin(PairedDataModule):
    name = "levin"
    official_counts = OFFICIAL_COUNTS
    train_split = "none"
    top_folders = ("Levin09blurdata",)

    def list_records(self, split: str) -> list[PairRecord]:
        if not self.root.is_dir():
            raise DataError(f"{self.root}: not found", "pass the folder holding im0*_flit0*.mat")
        files = sorted(p for p in self.root.iterdir() if _NAME.fullmatch(p.name))
        return [PairRecord(rel_id(p, self.root), p) for p in files]

    def check_files(self, records) -> list[str]:
        from scipy.io import whosmat  # deferred: scipy (.mat files only)

        problems = []
        for rec in records:
            try:
                shapes = {name: shape for name, shape, _ in whosmat(str(rec.blurry))}
            except Exception:  # corrupt header
                problems.append(f"{rec.blurry}: unreadable (corrupt or truncated)")
                continue
            missing = [k for k in ("x", "y", "f") if k not in shapes]
            if missing:
                problems.append(f"{rec.blurry}: variables {', '.join(missing)} missing")
            elif shapes["x"][:2] != shapes["y"][:2]:
                problems.append(f"{rec.blurry}: size of y {shapes['y'][1]}x{shapes['y'][0]} differs from x "
                                f"{shapes['x'][1]}x{shapes['x'][0]}")
        return problems

    def make_dataset(self, records, transform=None) -> Dataset:
        return _LevinDataset(list(records))


register_download(DownloadSpec(
    "levin", licence="research use; distributed by the authors (RAR archive)",
    homepage="https://webee.technion.ac.il/people/anat.levin/",
    manual="download LevinEtalCVPR09Data from https://webee.technion.ac.il/people/anat.levin/ and unpack the "
           "im0*_flit0*.mat files into --root",
))
