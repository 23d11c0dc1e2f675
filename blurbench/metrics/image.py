"""PSNR and SSIM as published deblurring papers compute them.

Conventions (see ANCHORS §5): both metrics are computed per image on RGB values rounded to uint8 levels
(``quantize=True``), with data range 1.0 and no border crop unless asked, then averaged over images.
SSIM is the per-channel 2-D Gaussian window (11×11, σ = 1.5, K1 = 0.01, K2 = 0.03, population
covariance, 'valid' window positions) averaged over channels — the BasicSR / scikit-image
``gaussian_weights=True`` convention, recorded as :data:`SSIM_CONVENTION` in every leaderboard.

Images above :data:`STRIP_ABOVE` pixels are scored in strips of rows (each strip converted to float64 on its own,
SSIM strips overlapping by the window), so a 24 MP pair never holds full-size float64 copies; the value is the same
up to the order of the final sum (about 1e-15 relative).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchmetrics import Metric

from blurbench.metrics.conventions import PSNR_CONVENTION, SSIM_CONVENTION  # noqa: F401  (re-exported)
from blurbench.ops.gaussian import gaussian_filter2d

MAX_PSNR = 100.0  # identical images would give +inf; a finite cap keeps means meaningful


#: images with more pixels than this are scored in strips of :data:`STRIP_ROWS` rows (bounded memory)
STRIP_ABOVE = 4_000_000
STRIP_ROWS = 256


def _crop(pred: torch.Tensor, target: torch.Tensor, crop_border: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Shapes checked, [N, C, H, W] views with the border cropped (no copy)."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if pred.ndim == 3:
        pred, target = pred[None], target[None]
    if pred.ndim != 4:
        raise ValueError(f"expected [N, C, H, W] or [C, H, W] images, got shape {tuple(pred.shape)}")
    if crop_border > 0:  # cropping before the conversion gives the same values (element-wise)
        pred = pred[..., crop_border:-crop_border, crop_border:-crop_border]
        target = target[..., crop_border:-crop_border, crop_border:-crop_border]
    return pred, target


def _levels(x: torch.Tensor, quantize: bool) -> torch.Tensor:
    """float64 in [0, 1], rounded to uint8 levels if ``quantize``."""
    x = x.double().clamp(0, 1)
    return (x * 255).round() / 255 if quantize else x


def _row_strips(height: int, overlap: int = 0) -> list[slice]:
    """Row ranges of at most ``STRIP_ROWS + overlap`` rows; consecutive ones share ``overlap`` rows."""
    return [slice(r, min(height, r + STRIP_ROWS + overlap)) for r in range(0, max(1, height - overlap), STRIP_ROWS)]


def psnr(pred: torch.Tensor, target: torch.Tensor, *, quantize: bool = True, crop_border: int = 0) -> torch.Tensor:
    """Per-image PSNR in dB, ``10·log10(1 / MSE)`` over C·H·W, images in [0, 1]; returns [N] float64.

    Example:
        >>> x = torch.zeros(1, 3, 8, 8); y = torch.full((1, 3, 8, 8), 0.1)
        >>> round(psnr(x, y).item(), 2)
        19.9
    """
    pred, target = _crop(pred, target, crop_border)
    if pred.shape[-2] * pred.shape[-1] <= STRIP_ABOVE:
        mse = (_levels(pred, quantize) - _levels(target, quantize)).pow(2).mean(dim=(1, 2, 3))
    else:
        sse = sum((_levels(pred[..., rows, :], quantize) - _levels(target[..., rows, :], quantize)).pow(2)
                  .sum(dim=(1, 2, 3)) for rows in _row_strips(pred.shape[-2]))
        mse = sse / pred[0].numel()
    return (10 * torch.log10(1.0 / mse.clamp_min(10 ** (-MAX_PSNR / 10)))).clamp(max=MAX_PSNR)


def ssim(pred: torch.Tensor, target: torch.Tensor, *, quantize: bool = True, crop_border: int = 0) -> torch.Tensor:
    """Per-image SSIM (see module docstring for the convention); returns [N] float64."""
    pred, target = _crop(pred, target, crop_border)
    if min(pred.shape[-2:]) < _SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {_SSIM_WINDOW}x{_SSIM_WINDOW}, got {tuple(pred.shape[-2:])}")
    if pred.shape[-2] * pred.shape[-1] <= STRIP_ABOVE:
        return ssim_map(_levels(pred, quantize), _levels(target, quantize), _gaussian_valid).mean(dim=(1, 2, 3))
    # strips overlapping by the window less one row: each valid window position is in exactly one strip
    total = sum(ssim_map(_levels(pred[..., rows, :], quantize), _levels(target[..., rows, :], quantize),
                         _gaussian_valid).sum(dim=(1, 2, 3)) for rows in _row_strips(pred.shape[-2], _SSIM_WINDOW - 1))
    return total / (pred.shape[1] * (pred.shape[-2] - _SSIM_WINDOW + 1) * (pred.shape[-1] - _SSIM_WINDOW + 1))


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """SSIM map (K1 0.01, K2 0.03, data range 1, population covariance) with local means taken by ``window``."""
    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = window(x), window(y)
    var_x = window(x * x) - mu_x**2
    var_y = window(y * y) - mu_y**2
    cov = window(x * y) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


_SSIM_WINDOW = 11


def _gaussian_valid(x: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian (11 taps, σ 1.5) filter at 'valid' positions, per channel."""
    return gaussian_filter2d(x, 1.5, _SSIM_WINDOW // 2, padding="valid")


class _PerImageMetric(Metric):
    """Keeps every per-image value (``cat`` across processes) so means are exact under DDP."""

    full_state_update = False
    is_differentiable = False

    def __init__(self, quantize: bool = True, crop_border: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.quantize = quantize
        self.crop_border = crop_border
        self.add_state("values", default=[], dist_reduce_fx="cat")

    def _score(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        self.values.append(self._score(pred, target))

    def compute(self) -> torch.Tensor:
        values = self.values if isinstance(self.values, torch.Tensor) else torch.cat(self.values)
        return values.mean()


class PSNR(_PerImageMetric):
    """Mean of per-image :func:`psnr` values (torchmetrics class)."""

    higher_is_better = True

    def _score(self, pred, target):
        return psnr(pred, target, quantize=self.quantize, crop_border=self.crop_border)


class SSIM(_PerImageMetric):
    """Mean of per-image :func:`ssim` values (torchmetrics class)."""

    higher_is_better = True

    def _score(self, pred, target):
        return ssim(pred, target, quantize=self.quantize, crop_border=self.crop_border)
