"""Metrics as functions returning one value per sample (float64 [N]); the caller aggregates.

The evaluation pipeline stores every per-sample value (``results.jsonl``: means, bootstrap intervals, resumable
runs) and the training tasks log batch values with their batch size (Lightning's ``sync_dist`` mean is the exact
per-sample mean across processes), so no stateful metric object is needed. Direction and table format of each
metric live in :data:`blurbench.metrics.conventions.METRIC_INFO`.
"""

from blurbench.metrics.image import SSIM_CONVENTION, psnr, ssim

__all__ = ["SSIM_CONVENTION", "psnr", "ssim"]
