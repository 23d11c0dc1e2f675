"""``blurbench predict --method NAME --input PATH --output DIR``: run a method on inputs without ground truth.

The method's ``predict_step`` returns a dict with ``id``; its ``write_prediction(output_dir, prediction)``
writes the files for that item (deblurred image under the same name, blur field, masks, ...). Outputs are
written per batch as they come, atomically (a temporary name, renamed when complete), so an interrupted run keeps
every finished file and leaves no partial one.

Large photos run in bounded memory: image-to-image methods (deblurring, blur detection) process an image above
:data:`~blurbench.tasks.tiling.TILE_ABOVE` pixels in overlapping tiles (:mod:`blurbench.tasks.tiling`; a note on stdout
says so), as ``evaluate`` does. Kernel-estimation methods write full-size per-pixel mixing maps for one set of basis
kernels, which tiles cannot share: they accept images up to :data:`FIELD_MAX_PIXELS` and refuse larger ones with one
line, before any work. ``bench/bench_predict_memory.py``
measures the peak memory of every image method at 12 and 24 MP.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter

from blurbench.datamodules.folder import image_info
from blurbench.datamodules.inputs import FrameSequenceDataModule, ImageInputsDataModule
from blurbench.errors import ConfigError
from blurbench.failures import check_predict_paths, check_writable_dir
from blurbench.tasks.registry import get_method
from blurbench.tasks.tiling import run_in_tiles

#: largest image a kernel-estimation method predicts on (25 full-size mixing maps plus their visualisations)
FIELD_MAX_PIXELS = 8_000_000


class _Writer(BasePredictionWriter):
    def __init__(self, output: Path) -> None:
        super().__init__(write_interval="batch")
        self.output = output

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx=0) -> None:
        pl_module.write_prediction(self.output, prediction)


def predict(method: str, input_path: str | Path, output: str | Path, devices: int | str = 1,
            accelerator: str = "auto", progress: bool = True) -> Path:
    spec = get_method(method)
    spec.check_runnable()
    if spec.uses_gt_field:
        raise ConfigError(f"method '{method}' needs the dataset's ground-truth blur field",
                          "predict runs methods that need only the blurry input; see `blurbench methods`")
    datamodules: dict[str, Any] = {"image": ImageInputsDataModule, "detection": ImageInputsDataModule,
                                   "video": FrameSequenceDataModule}
    if spec.data_kind not in datamodules:
        raise ConfigError(f"method '{method}' consumes {spec.data_kind} data",
                          "predict supports image, detection and video methods")
    dm = datamodules[spec.data_kind](input_path)
    check_predict_paths(input_path, output)
    if spec.task == "kernel-estimation":
        _check_field_size(dm, method)
    output = check_writable_dir(output, "--output")  # a probe write, before any work
    model = spec.build()
    if spec.data_kind in ("image", "detection"):
        model.predict_step = _tiled(model.predict_step)
    trainer = L.Trainer(accelerator=accelerator, devices=devices, logger=False, callbacks=[_Writer(output)],
                        enable_progress_bar=progress, enable_model_summary=False, use_distributed_sampler=False)
    trainer.predict(model, datamodule=dm, return_predictions=False)
    return output


def _check_field_size(dm: ImageInputsDataModule, method: str) -> None:
    for name in dm.names:
        info = image_info(dm.root / name)
        if info is not None and info[0] * info[1] > FIELD_MAX_PIXELS:
            raise ConfigError(f"{dm.root / name}: {info[0]}x{info[1]} ({info[0] * info[1] / 1e6:.1f} MP) is above the "
                              f"{FIELD_MAX_PIXELS / 1e6:.0f} MP that kernel estimation ('{method}') predicts on: its "
                              f"per-pixel mixing maps are full size", "downscale the image (e.g. to 3000 px on the "
                              "long side) or crop the region of interest")


def _tiled(step: Callable[[dict[str, Any], int], dict[str, Any]]) -> Callable[[dict[str, Any], int], dict[str, Any]]:
    """``predict_step`` that runs ``step`` in tiles on a large image (:func:`blurbench.tasks.tiling.run_in_tiles`)."""

    def predict_step(batch: dict[str, Any], batch_idx: int, *args: Any) -> dict[str, Any]:
        return run_in_tiles(lambda b: step(b, batch_idx, *args), batch, note=True)

    return predict_step
