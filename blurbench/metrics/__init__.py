"""Metrics as torchmetrics classes with functional twins."""

from blurbench.metrics.image import PSNR, SSIM, SSIM_CONVENTION, psnr, ssim

__all__ = ["PSNR", "SSIM", "SSIM_CONVENTION", "psnr", "ssim"]
