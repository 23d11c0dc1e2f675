"""Pictures for the HTML report, written by the evaluation run itself (never recomputed afterwards).

:class:`ReportAssets` wraps, for the duration of ``trainer.test``, the one method of the task that produces the
output (``restore_tiled``, ``estimate``, ``blur_score_tiled`` or ``restore_clip``) so that what the evaluation
computed is kept, and writes, for the first ``max_items`` samples of each dataset, under ``DIR/report/<dataset>/``:

- ``_inputs/<id>_blurry.png``, ``_sharp.png`` and the ground truth where there is one (``_kernels.png`` kernel grid,
  ``_mixing.png``, ``_mask.png``);
- ``<method>/<id>.png``: the deblurred image (video: the centre frame of the clip), or the kernel grid drawn on the
  image (kernel estimation), or the blur score map (detection); ``<id>_mixing.png``, ``<id>_mask.png``,
  ``<id>_flow.png`` (flow colour, forward flow of the centre frame) and ``<id>_sigma.png`` (defocus σ) beside it.

Ids are file-name safe (``/`` → ``__``). ``evaluate --no-report-images`` turns it off for big runs.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback

from blurbench.io import write_image
from blurbench.ops.flow_vis import flow_to_color
from blurbench.ops.visualize import kernel_field_image, mixing_grid

ASSET_DIR = "report"
#: the method whose output each task's pictures show
#: (the tiled calls: a large image gives one whole output, never its last tile)
CAPTURED = {"deblurring": "restore_tiled", "kernel-estimation": "estimate", "blur-detection": "blur_score_tiled",
            "video-deblurring": "restore_clip"}


def safe_id(item_id: str) -> str:
    return item_id.replace("/", "__").replace("\\", "__")


def _grey(x: torch.Tensor) -> torch.Tensor:
    return x.detach().float().cpu().clamp(0, 1).reshape(1, *x.shape[-2:]).expand(3, -1, -1)


class ReportAssets(Callback):
    def __init__(self, out: str | Path, max_items: int = 8) -> None:
        self.root = Path(out) / ASSET_DIR
        self.max_items = max_items
        self.captured: list[Any] = []
        self.saved: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._wrapped: list[str] = []

    # -------------------------------------------------------------------------------------- capture
    def on_test_start(self, trainer, pl_module) -> None:
        self._wrapped = []
        name = CAPTURED.get(pl_module.task)
        original = getattr(pl_module, name, None) if name else None
        if original is None:
            return

        def capture(*args, **kwargs):
            result = original(*args, **kwargs)
            self.captured.append(result)
            return result

        object.__setattr__(pl_module, name, capture)  # an instance attribute, removed in on_test_end
        self._wrapped.append(name)

    def on_test_end(self, trainer, pl_module) -> None:
        for name in self._wrapped:
            pl_module.__dict__.pop(name, None)
        self._wrapped = []

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self.captured = []

    # -------------------------------------------------------------------------------------- writing
    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        # every rank writes the pictures of its own samples (distinct files)
        captured, self.captured = self.captured, []
        if not captured:
            return
        dataset = trainer.datamodule.name
        key = (pl_module.method_name, dataset)
        kind = pl_module.task
        for i, item_id in enumerate(batch["id"]):
            if len(self.saved[key]) >= self.max_items or item_id in self.saved[key]:
                continue
            if not self._inputs_wanted(dataset, item_id):
                continue  # another rank, or an earlier sample beyond max_items
            self.saved[key].add(item_id)
            self._write(kind, dataset, pl_module, batch, i, item_id, captured)

    def _inputs_wanted(self, dataset: str, item_id: str) -> bool:
        folder = self.root / dataset / "_inputs"
        if (folder / f"{safe_id(item_id)}_blurry.png").is_file():
            return True
        have = len(list(folder.glob("*_blurry.png"))) if folder.is_dir() else 0
        return have < self.max_items

    def _write(self, kind: str, dataset: str, module: Any, batch: dict[str, Any], i: int, item_id: str,
               captured: list[Any]) -> None:
        sid = safe_id(item_id)
        inputs = self.root / dataset / "_inputs"
        mine = self.root / dataset / safe_id(module.method_name)
        blurry = batch["blurry"][i]
        if kind == "video-deblurring":
            clip = captured[i] if i < len(captured) else captured[-1]
            latent, aux = clip
            c = blurry.shape[0] // 2
            self._input(inputs / f"{sid}_blurry.png", blurry[c])
            if "sharp" in batch:
                self._input(inputs / f"{sid}_sharp.png", batch["sharp"][i][c])
            write_image(mine / f"{sid}.png", latent[c].clamp(0, 1))
            if "flow_fw" in aux:
                flow = aux["flow_fw"][min(c, aux["flow_fw"].shape[0] - 1)].float().cpu()
                scale = None
                if "flow_fw" in batch:  # colours on the ground truth's scale, so the two compare
                    gt = batch["flow_fw"][i][min(c, batch["flow_fw"][i].shape[0] - 1)].float().cpu()
                    scale = float(gt.norm(dim=0).max().clamp_min(1e-6))
                    self._input(inputs / f"{sid}_flow.png", flow_to_color(gt, scale))
                write_image(mine / f"{sid}_flow.png", flow_to_color(flow, scale))
            if "sigma" in aux:
                write_image(mine / f"{sid}_sigma.png", _grey(aux["sigma"][c] / 2.5))
            return
        self._input(inputs / f"{sid}_blurry.png", blurry)
        if "sharp" in batch:
            self._input(inputs / f"{sid}_sharp.png", batch["sharp"][i])
        out = captured[-1]  # the outermost call returns last
        if kind == "kernel-estimation":
            kernels, mixing = out
            write_image(mine / f"{sid}.png", kernel_field_image(blurry.cpu(), kernels[i].float().cpu(),
                                                                mixing[i].float().cpu()))
            write_image(mine / f"{sid}_mixing.png", mixing_grid(mixing[i].float().cpu()))
            if "kernels" in batch and "mixing" in batch:
                self._input(inputs / f"{sid}_kernels.png", kernel_field_image(
                    blurry.cpu(), batch["kernels"][i].float().cpu(), batch["mixing"][i].float().cpu()))
                self._input(inputs / f"{sid}_mixing.png", mixing_grid(batch["mixing"][i].float().cpu()))
        elif kind == "blur-detection":
            score = out[i].float().clamp(0, 1)
            write_image(mine / f"{sid}.png", _grey(score))
            write_image(mine / f"{sid}_mask.png", _grey((score >= getattr(module, "mask_threshold", 0.5)).float()))
            if "mask" in batch:
                self._input(inputs / f"{sid}_mask.png", _grey(batch["mask"][i].float()))
        else:
            write_image(mine / f"{sid}.png", out[i].clamp(0, 1))

    @staticmethod
    def _input(path: Path, image: torch.Tensor) -> None:
        if not path.is_file():
            write_image(path, image.detach().float().cpu().clamp(0, 1))
