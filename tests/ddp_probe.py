"""A callback the DDP CLI tests add with ``--trainer.callbacks+=``: each rank writes what it saw to a JSON file.

Imported by the ranks of a ``blurbench fit`` subprocess (the test puts the repository on PYTHONPATH).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import lightning as L
from torch import nn


def digest(module: nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class RankProbe(L.Callback):
    """Records the training samples of this rank and where the frozen blur-field network F ended up."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.samples: list[list[str]] = []
        self.before: dict[str, str] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.before = {"generator": digest(pl_module.generator), "blurfield": digest(pl_module.blurfield)}

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: dict[str, Any],
                             batch_idx: int) -> None:
        for sample_id, blurry in zip(batch["id"], batch["blurry"]):
            self.samples.append([sample_id, hashlib.sha256(blurry.cpu().numpy().tobytes()).hexdigest()])

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        f = pl_module.blurfield
        f_params = {id(p) for p in f.parameters()}
        wrapped = trainer.strategy.model  # the DistributedDataParallel wrapper under DDP
        in_optimizers = {id(p) for opt in trainer.optimizers for group in opt.param_groups for p in group["params"]}
        report = {
            "rank": trainer.global_rank, "world_size": trainer.world_size, "wrapper": type(wrapped).__name__,
            "batches_per_epoch": trainer.num_training_batches,
            "wrapped_numel": sum(p.numel() for p in wrapped.parameters()),
            "trained_numel": sum(p.numel() for m in (pl_module.generator, pl_module.critic) for p in m.parameters()),
            "f_numel": sum(p.numel() for p in f.parameters()),
            "f_in_wrapper": bool(f_params & {id(p) for p in wrapped.parameters()}),
            "f_in_optimizers": bool(f_params & in_optimizers),
            "f_requires_grad": any(p.requires_grad for p in f.parameters()), "f_training": f.training,
            "before": self.before,
            "after": {"generator": digest(pl_module.generator), "blurfield": digest(f)},
            "samples": self.samples,
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(report))
