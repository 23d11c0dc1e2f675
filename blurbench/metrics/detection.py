"""Blur-detection metrics: per-image average precision (mAP over images), IoU and F1 of a thresholded mask.

Inputs: a continuous blur score ``score`` [N, 1, H, W] (higher = more likely blurred) and the ground-truth mask
``target`` [N, 1, H, W] (``target > 0.5`` = blurred). Every metric is computed **per image**, then averaged over
images (as for CUHK in Carbajal et al. 2021, Table 4: "mean average precision").

Average precision (:data:`AP_CONVENTION`) is scikit-learn's ``average_precision_score`` — the step-wise area
under the precision–recall curve, no interpolation::

    AP = Σ_n (R_n − R_{n−1}) · P_n

over the distinct score values ``t_1 > t_2 > ...`` taken as thresholds (pixel positive iff ``score ≥ t_n``),
``R_0 = 0``. Tied pixels enter together, so a constant score map gives the positive fraction and a score
that ranks every blurred pixel above every sharp one gives 1. The authors computed their number with
scikit-learn (import commented in ``detect_blur.py``); VOC's 11-point or interpolated AP is higher on the
same curve. An image without blurred pixels has no AP (NaN; it is left out of the mean).

IoU and F1 use the binary mask ``score ≥ threshold`` (default 0.5): ``IoU = TP / (TP + FP + FN)``,
``F1 = 2 TP / (2 TP + FP + FN)``, both 1 when prediction and ground truth are both empty.

The values come from torchmetrics' functional binary metrics (``binary_average_precision`` with exact
thresholds, ``binary_jaccard_index``, ``binary_f1_score``), applied per image; they equal scikit-learn's to float
rounding (``tests/test_detection.py``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.classification import binary_average_precision, binary_f1_score, binary_jaccard_index

__all__ = ["AP_CONVENTION", "BlurF1", "BlurIoU", "MeanAveragePrecision", "average_precision", "detection_metrics",
           "f1_score", "iou"]

AP_CONVENTION = ("per image, scikit-learn average_precision_score (step-wise sum of (R_n - R_n-1) P_n over "
                 "distinct score thresholds, no interpolation), then averaged over images")


def _flat(score: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    if score.shape != target.shape:
        raise ValueError(f"score {tuple(score.shape)} and target {tuple(target.shape)} differ in shape")
    if score.dim() == 3:
        score, target = score[None], target[None]
    if score.dim() != 4:
        raise ValueError(f"expected [N, 1, H, W] (or [1, H, W]) maps, got shape {tuple(score.shape)}")
    return score.flatten(1).double(), target.flatten(1) > 0.5


def _ap_1d(s: Tensor, t: Tensor) -> float:
    if not bool(t.any()):
        return math.nan  # torchmetrics would warn and give NaN: no recall without positives
    # scores pass as they are: torchmetrics applies a sigmoid to values outside [0, 1], which keeps their order
    return float(binary_average_precision(s, t.long(), thresholds=None))


def average_precision(score: Tensor, target: Tensor) -> Tensor:
    """Per-image AP (see :data:`AP_CONVENTION`) of [N, 1, H, W] maps; [N] float64, NaN without positives.

    Example:
        >>> t = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
        >>> average_precision(t, t).item(), average_precision(torch.ones_like(t), t).item()
        (1.0, 0.5)
    """
    s, t = _flat(score, target)
    return torch.tensor([_ap_1d(si, ti) for si, ti in zip(s, t)], dtype=torch.float64)


def _binary(score: Tensor, target: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    # the mask is formed here (score >= threshold) so that torchmetrics sees labels, never scores it would
    # threshold with '>' or pass through a sigmoid
    s, t = _flat(score, target)
    return (s >= threshold).long(), t.long()


def iou(score: Tensor, target: Tensor, threshold: float = 0.5) -> Tensor:
    """Per-image IoU of ``score ≥ threshold`` with ``target > 0.5``; [N] float64 (1 when both are empty)."""
    p, t = _binary(score, target, threshold)
    return torch.stack([binary_jaccard_index(pi, ti, zero_division=1.0) for pi, ti in zip(p, t)]).double()


def f1_score(score: Tensor, target: Tensor, threshold: float = 0.5) -> Tensor:
    """Per-image F1 (Dice) of ``score ≥ threshold`` with ``target > 0.5``; [N] float64 (1 when both are empty)."""
    p, t = _binary(score, target, threshold)
    return binary_f1_score(p, t, multidim_average="samplewise", zero_division=1.0).double().reshape(-1)


def detection_metrics(score: Tensor, target: Tensor, threshold: float = 0.5) -> list[dict[str, float]]:
    """Per-image ``{"ap", "iou", "f1"}`` rows for the leaderboard (``ap`` omitted when undefined)."""
    ap, io, f1 = average_precision(score, target), iou(score, target, threshold), f1_score(score, target, threshold)
    rows = []
    for a, i, f in zip(ap.tolist(), io.tolist(), f1.tolist()):
        row = {"ap": a} if not math.isnan(a) else {}
        rows.append({**row, "iou": i, "f1": f})
    return rows


class _ImageMean(Metric):
    """Mean over images of a per-image value; images with NaN (undefined) are skipped. Exact under DDP."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, threshold: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def _values(self, score: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError

    def update(self, score: Tensor, target: Tensor) -> None:
        v = self._values(score, target)
        v = v[~torch.isnan(v)].to(self.total.device)
        self.total += v.sum()
        self.count += v.numel()

    def compute(self) -> Tensor:
        return self.total / self.count if self.count > 0 else torch.tensor(math.nan, dtype=torch.float64)


class MeanAveragePrecision(_ImageMean):
    """mAP: mean over images of :func:`average_precision` (images without blurred pixels are skipped).

    Example:
        >>> m = MeanAveragePrecision()
        >>> t = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]])
        >>> m.update(torch.zeros_like(t), t); m.update(t, t)
        >>> round(m.compute().item(), 3)
        0.875
    """

    def _values(self, score: Tensor, target: Tensor) -> Tensor:
        return average_precision(score, target)


class BlurIoU(_ImageMean):
    """Mean over images of :func:`iou` at ``threshold``."""

    def _values(self, score: Tensor, target: Tensor) -> Tensor:
        return iou(score, target, self.threshold)


class BlurF1(_ImageMean):
    """Mean over images of :func:`f1_score` at ``threshold``."""

    def _values(self, score: Tensor, target: Tensor) -> Tensor:
        return f1_score(score, target, self.threshold)
