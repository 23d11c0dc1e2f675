"""Base LightningModules for evaluation: a method turns a batch into per-sample result rows.

``test_step`` returns a list of rows ``{"id", "metrics": {...}, "seconds"}``; the evaluation pipeline's
:class:`~blurbench.evaluation.ResultsWriter` callback stamps them with the method and dataset names and
stores them. Means are never computed inside the module, so they are exact under DDP.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

from blurbench.io import write_image
from blurbench.metrics.image import psnr, ssim
from blurbench.tasks.tiling import run_in_tiles


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class EvaluationTask(L.LightningModule):
    """A method that ``blurbench evaluate`` can run. Subclasses implement :meth:`evaluate_batch`."""

    #: the leaderboard table the rows go to
    task: str = "deblurring"
    #: the dataset kind it consumes ("image", "video", "detection")
    data_kind: str = "image"

    def __init__(self) -> None:
        super().__init__()
        self.method_name = type(self).__name__

    def weights_sha256(self) -> str | None:
        """sha256 of the weights this method loaded, for provenance (None: no learned weights).

        Networks loaded through :func:`blurbench.zoo.load` carry a ``weights_sha256`` attribute; every one
        found among the submodules is reported.
        """
        shas = {m.weights_sha256 for m in self.modules() if isinstance(getattr(m, "weights_sha256", None), str)}
        return ",".join(sorted(shas)) or None

    def evaluate_batch(self, batch: dict[str, Any]) -> list[dict[str, float]]:
        raise NotImplementedError

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, Any]]:
        """Rows of the batch; on a dataset without ground truth (real blur), the method runs for its outputs
        (``predict_step``, in tiles for a large image as in ``predict``: what the report pictures) and the rows
        carry no metric, only seconds."""
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        scored = getattr(datamodule, "has_ground_truth", True)
        _sync(self.device)
        start = time.perf_counter()
        with torch.inference_mode():
            metrics = self.evaluate_batch(batch) if scored else [{} for _ in batch["id"]]
            if not scored:
                self.predict_step(batch, batch_idx)
        _sync(self.device)
        seconds = (time.perf_counter() - start) / len(batch["id"])
        self._log_means(metrics, "test")
        return [{"id": i, "metrics": m, "seconds": seconds} for i, m in zip(batch["id"], metrics)]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, Any]]:
        """As :meth:`test_step`, logged under ``val/`` (``blurbench validate`` with a task config)."""
        with torch.inference_mode():
            metrics = self.evaluate_batch(batch)
        self._log_means(metrics, "val")
        return [{"id": i, "metrics": m} for i, m in zip(batch["id"], metrics)]

    def _log_means(self, metrics: list[dict[str, float]], stage: str) -> None:
        """Batch means weighted by batch size, so that Lightning's epoch value is the per-sample mean that
        `blurbench test/validate` print (``evaluate`` computes its own means from the stored rows)."""
        names = sorted({k for m in metrics for k in m})
        for name in names:
            values = [m[name] for m in metrics if name in m]
            self.log(f"{stage}/{name}", sum(values) / len(values), batch_size=len(values), on_epoch=True,
                     on_step=False, sync_dist=True)


class ImageRestorationTask(EvaluationTask):
    """A deblurring method: :meth:`restore` maps the batch's blurry images to sharp estimates."""

    task = "deblurring"
    data_kind = "image"

    def restore(self, batch: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError

    def restore_tiled(self, batch: dict[str, Any]) -> torch.Tensor:
        """:meth:`restore` of the whole batch, in overlapping tiles above
        :data:`~blurbench.tasks.tiling.TILE_ABOVE` pixels (bounded memory): what evaluate scores and predict writes,
        and the call the report's pictures and the cost count capture (one per image, never one per tile)."""
        return run_in_tiles(self.restore, batch)

    def evaluate_batch(self, batch: dict[str, Any]) -> list[dict[str, float]]:
        # large images are restored in overlapping tiles (bounded memory, as predict does) and scored whole
        restored = self.restore_tiled(batch).clamp(0, 1)
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is not None and hasattr(datamodule, "score"):
            return datamodule.score(restored, batch)  # the dataset's official protocol
        sharp = batch["sharp"]
        return [{"psnr": float(p), "ssim": float(s)} for p, s in zip(psnr(restored, sharp), ssim(restored, sharp))]

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        with torch.inference_mode():
            return {"id": batch["id"], "restored": self.restore_tiled(batch).clamp(0, 1)}

    def write_prediction(self, output_dir: Path, prediction: dict[str, Any]) -> None:
        """Deblurred images under their input names (relative paths kept)."""
        for item_id, image in zip(prediction["id"], prediction["restored"]):
            write_image(Path(output_dir) / item_id, image)
