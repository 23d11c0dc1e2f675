"""Shared dataset/datamodule machinery: paired samples, stable ids, exact sharding for evaluation.

A *sample* is a dict with at least ``id`` (a relative path, stable across machines) and ``blurry``
([3, H, W] float32 in [0, 1]); ``sharp`` when the dataset has ground truth; datasets with a ground-truth
blur field add ``kernels`` [B, K, K] and ``mixing`` [B, H, W].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset

from blurbench.datamodules.catalog import check_hint
from blurbench.errors import DataError
from blurbench.io import read_image
from blurbench.metrics.image import psnr, ssim


@dataclass(frozen=True)
class PairRecord:
    """One test item: its stable id and the files that make it."""

    id: str
    blurry: Path
    sharp: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class PairedImageDataset(Dataset):
    """Reads (blurry, sharp) pairs from a list of records, in the list's (deterministic) order.

    ``load_extras(record) -> dict`` adds per-sample tensors (e.g. a ground-truth blur field).
    """

    def __init__(
        self,
        records: Sequence[PairRecord],
        load_extras: Callable[[PairRecord], dict[str, Any]] | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.records = list(records)
        self.load_extras = load_extras
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        sample: dict[str, Any] = {"id": rec.id, "blurry": read_image(rec.blurry)}
        if rec.sharp is not None:
            sample["sharp"] = read_image(rec.sharp)
            if sample["sharp"].shape != sample["blurry"].shape:
                raise DataError(
                    f"{rec.blurry}: size {tuple(sample['blurry'].shape[1:])} differs from its sharp image "
                    f"{rec.sharp} {tuple(sample['sharp'].shape[1:])}",
                    "the pair is mismatched; re-download or regenerate the dataset",
                )
        if self.load_extras is not None:
            sample.update(self.load_extras(rec))
        return self.transform(sample) if self.transform is not None else sample


class EvaluationDataModule(L.LightningDataModule):
    """Base for datamodules used by ``blurbench evaluate``: full frames, batch 1, exact sharding.

    Subclasses implement :meth:`build_test_dataset`. ``limit`` keeps the first N items (deterministic
    order), ``exclude`` drops ids already evaluated (resume). Under DDP every item is seen exactly once
    (``UnrepeatedDistributedSampler``: no padding duplicates), so per-sample rows gathered from all ranks
    equal a single-process run.
    """

    #: short dataset name used in results and leaderboards
    name: str = "dataset"
    #: what a sample holds: "image" (pairs), "video" (clips), "detection" (image + mask)
    kind: str = "image"
    #: evaluation protocol and split, shown in the leaderboard
    protocol: str = "psnr-ssim"
    split: str = "test"
    #: False for real blur without ground truth: methods run for their outputs, rows carry no metric
    has_ground_truth: bool = True

    def __init__(self, limit: int | None = None, exclude: Sequence[str] = (), num_workers: int = 0) -> None:
        super().__init__()
        self.limit = limit
        self.exclude = set(exclude)
        self.num_workers = num_workers
        self.test_set: Dataset | None = None

    def build_test_dataset(self) -> Dataset:
        raise NotImplementedError

    def score(self, restored: torch.Tensor, batch: dict[str, Any]) -> list[dict[str, float]]:
        """Per-sample metrics of restored images [N, 3, H, W] under this dataset's official protocol.

        The default is PSNR/SSIM (see :mod:`blurbench.metrics.image`); datasets whose papers score
        differently (RealBlur's ECC alignment, Köhler's best frame) override it and name it in ``protocol``.
        """
        sharp = batch["sharp"]
        return [{"psnr": float(p), "ssim": float(s)} for p, s in zip(psnr(restored, sharp), ssim(restored, sharp))]

    def check(self) -> list[str]:
        """Problems with the data on disk, one line each; empty when complete."""
        return []

    def ids(self) -> list[str]:
        """Stable ids of the items in evaluation order (before ``limit``/``exclude``)."""
        ds = self.build_test_dataset()
        return [r.id for r in ds.records]

    def setup(self, stage: str | None = None) -> None:
        if self.test_set is not None:
            return
        problems = self.check()
        if problems:
            raise DataError(problems[0], check_hint(self.name, getattr(self, "root", None)))
        ds = self.build_test_dataset()
        keep = range(len(ds)) if self.limit is None else range(min(self.limit, len(ds)))
        records = ds.records
        keep = [i for i in keep if records[i].id not in self.exclude]
        self.test_set = torch.utils.data.Subset(ds, keep)

    def test_dataloader(self) -> DataLoader:
        assert self.test_set is not None, "call setup() first"
        sampler = None
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            sampler = UnrepeatedDistributedSampler(self.test_set, shuffle=False)
        return DataLoader(
            self.test_set, batch_size=1, shuffle=False, sampler=sampler, num_workers=self.num_workers,
            collate_fn=collate,
        )

    predict_dataloader = test_dataloader


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors, keep strings as lists (ids)."""
    out: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return out
