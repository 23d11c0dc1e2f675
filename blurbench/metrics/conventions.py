"""Metric names as tables show them: column title, direction, number format, and the recorded conventions.

The leaderboard renders with these and model cards (``blurbench.zoo.cards``) write them into ``model-index``:
both read them here, below either.
"""

from __future__ import annotations

__all__ = ["CONVENTIONS", "METRIC_INFO", "PSNR_CONVENTION", "SSIM_CONVENTION"]

SSIM_CONVENTION = "per-channel Gaussian 11x11 sigma 1.5 on uint8-rounded RGB, averaged over channels"
PSNR_CONVENTION = "RGB, uint8-rounded, data range 1, no crop, per image then averaged"

#: metric name -> (column title, higher is better, format)
METRIC_INFO: dict[str, tuple[str, bool, str]] = {
    "psnr": ("PSNR (dB)", True, "{:.2f}"),
    "ssim": ("SSIM", True, "{:.4f}"),
    "reblur_psnr": ("Reblur PSNR (dB)", True, "{:.2f}"),
    "kernel_error": ("Kernel error", False, "{:.5f}"),
    "ap": ("mAP", True, "{:.4f}"),
    "iou": ("IoU", True, "{:.4f}"),
    "f1": ("F1", True, "{:.4f}"),
    "epe": ("EPE (px)", False, "{:.3f}"),
    "epe_init": ("EPE of initial flow (px)", False, "{:.3f}"),
}
#: metric name -> how it is computed, recorded with every leaderboard
CONVENTIONS = {"psnr": PSNR_CONVENTION, "ssim": SSIM_CONVENTION}
