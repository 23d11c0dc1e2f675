"""``blurbench predict --method NAME --input PATH --output DIR``: run a method on inputs without ground truth.

The method's ``predict_step`` returns a dict with ``id``; its ``write_prediction(output_dir, prediction)``
writes the files for that item (deblurred image under the same name, blur field, masks, ...). Outputs are
written per batch as they come, atomically (a temporary name, renamed when complete), so an interrupted run keeps
every finished file and leaves no partial one.

Large photos run in bounded memory: image-to-image methods (deblurring, blur detection) process an image above
:data:`~blurbench.tasks.tiling.TILE_ABOVE` pixels in overlapping tiles (:mod:`blurbench.tasks.tiling`; a note on stdout
says so), as ``evaluate`` does. Kernel-estimation methods write full-size per-pixel mixing maps for one set of basis
kernels, which tiles cannot share: they run whole on images up to :func:`~blurbench.tasks.tiling.field_limit`
(5 MP, less for a wide network) and refuse larger ones with one line, before any work.
``bench/bench_predict_memory.py`` measures the peak memory of every image method at 12 and 24 MP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter

from blurbench.datamodules.inputs import FrameSequenceDataModule, ImageInputsDataModule
from blurbench.errors import ConfigError
from blurbench.failures import check_predict_paths, check_writable_dir
from blurbench.tasks import tiling
from blurbench.tasks.registry import get_method


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
        tiling.check_field_size((dm.root / n for n in dm.names), method, tiling.field_limit(spec))
    output = check_writable_dir(output, "--output")  # a probe write, before any work
    model = spec.build()
    if spec.task in ("deblurring", "blur-detection"):  # their predict_step runs in tiles (tiling.run_in_tiles)
        for path, width, height in tiling.large_images((dm.root / n for n in dm.names), tiling.TILE_ABOVE):
            print(f"note: {path.relative_to(dm.root)}: {width}x{height} ({width * height / 1e6:.1f} MP) processed in "
                  f"{tiling.TILE}-px tiles with {tiling.MARGIN}-px overlap (bounded memory)")
    trainer = L.Trainer(accelerator=accelerator, devices=devices, logger=False, callbacks=[_Writer(output)],
                        enable_progress_bar=progress, enable_model_summary=False, use_distributed_sampler=False)
    trainer.predict(model, datamodule=dm, return_predictions=False)
    return output

