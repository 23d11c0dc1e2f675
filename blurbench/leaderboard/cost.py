"""What a method costs: parameters, and multiply-accumulates on one sample of a stated size.

MACs are counted with torch's :class:`~torch.utils.flop_counter.FlopCounterMode` (FLOPs / 2), which knows
convolutions and matrix products; FFTs, OpenCV calls and element-wise work are not counted, so they are counted
only for methods with a learned network (a solver around a network shows the network's share). The count runs
once per (method, dataset) on the first sample of the evaluation run, after that sample was timed, so it never
inflates s/sample.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.flop_counter import FlopCounterMode

from blurbench.io import atomic_write_json
from blurbench.leaderboard.assets import CAPTURED

COST_FILE = "cost.json"


def parameter_count(module: torch.nn.Module) -> int:
    """Parameters of the module and every submodule (frozen networks included), each tensor counted once."""
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())


def method_call(module: Any, sample: dict[str, Any]) -> Any:
    """A call of the method's own computation on one sample (metrics excluded): ``restore_tiled``, ``estimate``,
    ``blur_score_tiled`` (in tiles on a large image, as run) or, for video, ``restore_clip`` of the clip."""
    name = CAPTURED.get(module.task)
    if name is None:
        return lambda: module.test_step(sample, 0)
    # the class's method, not a capturing wrapper; a module with only the plain method (no tiler) is called as is
    fn = (getattr(type(module), name, None) or getattr(type(module), name.removesuffix("_tiled"))).__get__(module)
    if module.task == "video-deblurring":
        tau = float(sample["tau"][0].reshape(-1)[0]) if "tau" in sample else None
        return lambda: fn(sample["blurry"][0], tau)
    return lambda: fn(sample)


def count_macs(fn: Any, *args: Any, **kwargs: Any) -> int:
    """Multiply-accumulates of ``fn(*args, **kwargs)`` as FlopCounterMode counts them."""
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        fn(*args, **kwargs)
    return int(counter.get_total_flops()) // 2


def first_sample(batch: dict[str, Any]) -> dict[str, Any]:
    """The batch cut to its first sample (tensors and lists alike)."""
    return {k: (v[:1] if isinstance(v, (torch.Tensor, list, tuple)) else v) for k, v in batch.items()}


def input_size(sample: dict[str, Any]) -> str:
    x = sample.get("blurry")
    if not isinstance(x, torch.Tensor):
        return "?"
    shape = list(x.shape[1:]) if x.dim() == 5 else list(x.shape)  # video: T×C×H×W of the one clip
    return "×".join(str(s) for s in shape)


def load_costs(out: str | Path) -> dict[str, Any]:
    path = Path(out) / COST_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        return {}


class CostRecorder(Callback):
    """After the first test batch of each (method, dataset): params and MACs into ``DIR/cost.json`` (rank 0)."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx != 0 or trainer.global_rank != 0:
            return
        key = f"{pl_module.method_name}/{trainer.datamodule.name}"
        costs = load_costs(self.out)
        if key in costs:
            return
        sample = first_sample(batch)
        params = parameter_count(pl_module)
        cost: dict[str, Any] = {"params": params, "macs": None, "input": input_size(sample)}
        if params == 0:
            # No network: the work is FFTs, OpenCV and element-wise ops the counter does not see, and replaying an
            # iterative solver under the counter's dispatch costs minutes (GVD) for a number that would mislead.
            cost["note"] = "no learned network: MACs not counted"
        else:
            try:
                cost["macs"] = count_macs(method_call(pl_module, sample))
            except Exception as err:  # noqa: BLE001 — a method the counter cannot follow keeps its rows
                cost["note"] = f"MACs not counted: {type(err).__name__}: {err}"[:200]
        costs[key] = cost
        atomic_write_json(self.out / COST_FILE, costs)
