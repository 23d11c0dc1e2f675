"""``blurbench predict --method NAME --input PATH --output DIR``: run a method on inputs without ground truth.

The method's ``predict_step`` returns a dict with ``id``; its ``write_prediction(output_dir, prediction)``
writes the files for that item (deblurred image under the same name, blur field, masks, ...). Outputs are
written per batch as they come, atomically, so an interrupted run keeps every finished item.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter

from blurbench.datamodules.inputs import FrameSequenceDataModule, ImageInputsDataModule
from blurbench.errors import ConfigError
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
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    model = spec.build()
    trainer = L.Trainer(accelerator=accelerator, devices=devices, logger=False, callbacks=[_Writer(output)],
                        enable_progress_bar=progress, enable_model_summary=False, use_distributed_sampler=False)
    trainer.predict(model, datamodule=dm, return_predictions=False)
    return output
