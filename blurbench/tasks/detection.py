"""Blur detection methods: a per-pixel blur score and a binary blur mask for each image.

Scored per image with :func:`blurbench.metrics.detection.detection_metrics` (AP of the score, IoU and F1 of the
mask ``score ≥ mask_threshold``) against the dataset's mask (batch key ``mask`` [N, 1, H, W], 1 = blurred).
``blurbench predict`` writes, for input ``<name>.<ext>``, ``<name>_blurmask.png`` (8-bit, 255 = blurred) and
``<name>_blurscore.png`` (16-bit gray, score × 65535).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from blurbench.errors import DataError
from blurbench.io import write_image
from blurbench.metrics.detection import detection_metrics
from blurbench.ops.detection import DEFAULT_NORM_THRESHOLD, blur_score, laplacian_blur_score, pixel_blur_score
from blurbench.tasks.base import EvaluationTask
from blurbench.tasks.deblur import ORACLE, build_field_estimator, estimate_field, field_from_batch
from blurbench.tasks.tiling import run_in_tiles

__all__ = [
    "BlurDetectionTask", "ConstantBlurDetection", "FieldBlurDetection", "LaplacianBlurDetection", "prediction_paths",
]


def prediction_paths(output_dir: Path, item_id: str) -> tuple[Path, Path]:
    """(mask path, score path) written for input ``item_id`` (its relative path, extension replaced)."""
    stem = Path(item_id).with_suffix("")
    return Path(output_dir) / f"{stem}_blurmask.png", Path(output_dir) / f"{stem}_blurscore.png"


class BlurDetectionTask(EvaluationTask):
    """Base: subclasses implement :meth:`blur_score` ([N, 1, H, W] in [0, 1], higher = blurred)."""

    task = "blur-detection"
    data_kind = "detection"

    def __init__(self, mask_threshold: float = 0.5) -> None:
        super().__init__()
        self.mask_threshold = mask_threshold

    def blur_score(self, batch: dict[str, Any]) -> Tensor:
        raise NotImplementedError

    def blur_score_tiled(self, batch: dict[str, Any]) -> Tensor:
        """:meth:`blur_score` of the whole batch, in overlapping tiles above
        :data:`~blurbench.tasks.tiling.TILE_ABOVE` pixels (bounded memory; the call the report and cost capture)."""
        return run_in_tiles(self.blur_score, batch)

    def evaluate_batch(self, batch: dict[str, Any]) -> list[dict[str, float]]:
        if "mask" not in batch:
            raise DataError(f"{batch['id'][0]}: no ground-truth blur mask",
                            "evaluate detection methods on a detection dataset (e.g. builtin/detection, cuhk)")
        # large images are scored in overlapping tiles (bounded memory, as predict does)
        return detection_metrics(self.blur_score_tiled(batch), batch["mask"], self.mask_threshold)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        with torch.inference_mode():
            score = self.blur_score_tiled(batch).clamp(0, 1)
        return {"id": batch["id"], "score": score, "mask": score >= self.mask_threshold}

    def write_prediction(self, output_dir: Path, prediction: dict[str, Any]) -> None:
        for item_id, score, mask in zip(prediction["id"], prediction["score"], prediction["mask"]):
            mask_path, score_path = prediction_paths(output_dir, item_id)
            write_image(mask_path, (mask[0].cpu().numpy() * 255).astype("uint8"))
            write_image(score_path, (score[0].double().cpu().numpy() * 65535).round().astype("uint16"))


class FieldBlurDetection(BlurDetectionTask):
    """Blur detection from a blur field (Carbajal et al. 2021, §4.2).

    Args:
        field: zoo blur-field model name (``"blurfield-small"``, ``"carbajal2021"``) or ``"oracle"`` (the
            dataset's ground-truth field).
        norm_threshold: a kernel with ``‖k‖₂ ≤ norm_threshold`` is blurry (paper: 0.25).
        mask_threshold: binary mask = ``score ≥ mask_threshold``; None = the mask of the rule: 0.5 for
            ``"basis"`` (the blurry kernels hold most of the pixel), ``1 - norm_threshold`` for ``"pixel"``.
        pretrained: load the network's weights (False: random weights, for tests).
        score: ``"basis"`` — the paper's rule, the mixing mass of the basis kernels with ``‖k_b‖₂ ≤
            norm_threshold`` (:func:`~blurbench.ops.detection.blur_score`); ``"pixel"`` — ``1 - ‖k_x‖₂`` of each
            pixel's own kernel (:func:`~blurbench.ops.detection.pixel_blur_score`), a finer ranking.
    """

    def __init__(self, field: str = "blurfield-small", norm_threshold: float = DEFAULT_NORM_THRESHOLD,
                 mask_threshold: float | None = None, pretrained: bool = True, score: str = "basis") -> None:
        if score not in ("basis", "pixel"):
            raise ValueError(f"score must be 'basis' or 'pixel', got {score!r}")
        if mask_threshold is None:
            mask_threshold = 0.5 if score == "basis" else 1.0 - norm_threshold
        super().__init__(mask_threshold)
        self.save_hyperparameters()
        self.field, self.norm_threshold, self.score = field, norm_threshold, score
        self.estimator = None if field == ORACLE else build_field_estimator(field, pretrained)

    def blur_score(self, batch: dict[str, Any]) -> Tensor:
        if self.estimator is None:
            kernels, mixing = field_from_batch(batch)
        else:
            kernels, mixing = estimate_field(self.estimator, batch["blurry"])
        if self.score == "pixel":
            return pixel_blur_score(kernels, mixing)
        return blur_score(kernels, mixing, self.norm_threshold)


class LaplacianBlurDetection(BlurDetectionTask):
    """No-field baseline: local Laplacian energy (:func:`blurbench.ops.detection.laplacian_blur_score`)."""

    def __init__(self, window: int = 9, energy_scale: float = 5e-4, mask_threshold: float = 0.5) -> None:
        super().__init__(mask_threshold)
        self.save_hyperparameters()
        self.window, self.energy_scale = window, energy_scale

    def blur_score(self, batch: dict[str, Any]) -> Tensor:
        return laplacian_blur_score(batch["blurry"], self.window, self.energy_scale)


class ConstantBlurDetection(BlurDetectionTask):
    """Trivial floor: the same score at every pixel (default 1: "everything is blurred").

    Its AP is the image's share of blurred pixels and, with ``value >= mask_threshold``, its IoU is that share too:
    a method that does not beat it ranks pixels no better than chance.
    """

    def __init__(self, value: float = 1.0, mask_threshold: float = 0.5) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"value is a blur score in [0, 1], got {value}")
        super().__init__(mask_threshold)
        self.save_hyperparameters()
        self.value = value

    def blur_score(self, batch: dict[str, Any]) -> Tensor:
        blurry = batch["blurry"]
        return blurry.new_full((blurry.shape[0], 1, *blurry.shape[-2:]), self.value)
