"""Coarse-to-fine pyramid (the MATLAB release: scale 0.9, at most 17 levels, short side ≥ 16 px)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["pyramid_shapes", "adaptive_levels", "expected_blur", "resize_images", "resize_flows", "resize_maps"]


def pyramid_shapes(h: int, w: int, scale: float = 0.9, min_size: int = 16, max_levels: int = 17
                   ) -> list[tuple[int, int]]:
    """Level sizes, finest (the input) first: ``size_k = round(size_0·scale^k)`` while the short side ≥ min_size."""
    shapes = [(h, w)]
    fh, fw = float(h), float(w)
    while len(shapes) < max_levels:
        fh, fw = fh * scale, fw * scale
        if min(fh, fw) < min_size:
            break
        shapes.append((max(1, round(fh)), max(1, round(fw))))
    return shapes


def adaptive_levels(h: int, w: int, scale: float = 0.9, coarse_size: float = 56.0, blur: float | None = None,
                    coarse_blur: float = 8.0) -> int:
    """Pyramid levels for an ``h``×``w`` frame: enough that the coarsest short side is about ``coarse_size`` px.

    Levels are the count of ``min(h, w)·scale^k ≥ coarse_size`` (at least 1). With ``blur`` (the expected blur
    length in px at full size, see :func:`expected_blur`), levels are added while it would exceed ``coarse_blur`` px
    at the coarsest level, so a small frame with a large motion still starts where its blur is short. The caller
    still caps the result with the pyramid's ``max_levels`` and ``min_size`` (:func:`pyramid_shapes`).
    """
    short = min(h, w)
    # the small epsilon keeps a size that lands exactly on a level (e.g. 56/0.9^k) from losing it to rounding
    n = 1 + max(0, math.floor(math.log(coarse_size / short) / math.log(scale) + 1e-9)) if short > coarse_size else 1
    if blur is not None and blur > coarse_blur:
        n = max(n, 1 + math.ceil(math.log(coarse_blur / blur) / math.log(scale) - 1e-9))
    return n


def expected_blur(flow_fw: torch.Tensor, flow_bw: torch.Tensor, tau: torch.Tensor, q: float = 0.95) -> float:
    """Blur length in px the flows imply: the ``q``-quantile of ``τ·|u|`` over both directions and all pixels.

    A quantile, not the maximum: the classical initial flows have outliers (on the ``video-large`` val clips the
    largest DIS vector was up to 2.5× the 95th percentile, the 95th percentile within 3 % of the ground truth's).
    """
    t = flow_fw.shape[0]
    tau = tau.reshape(-1, 1, 1).expand(t, 1, 1) if tau.numel() > 1 else tau.reshape(1, 1, 1)
    mag = torch.cat([(tau * flow_fw.norm(dim=1)).flatten(), (tau * flow_bw.norm(dim=1)).flatten()])
    if mag.numel() == 0:
        return 0.0
    k = min(mag.numel(), max(1, math.ceil(q * mag.numel())))
    return float(mag.kthvalue(k).values)


def resize_images(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of [N, C, H, W] (antialiased when shrinking, like MATLAB ``imresize``)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x.clone()
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=shrink)


def resize_flows(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of flows [N, 2, H, W] with the vectors rescaled to the new pixel units."""
    h, w = flow.shape[-2:]
    if (h, w) == tuple(size):
        return flow.clone()
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    scale = flow.new_tensor([size[1] / w, size[0] / h]).view(1, 2, 1, 1)
    return out * scale


def resize_maps(m: torch.Tensor, size: tuple[int, int], value_scale: float = 1.0) -> torch.Tensor:
    """Bilinear resize of per-pixel maps [N, C, H, W], values multiplied by ``value_scale`` (e.g. σ in px)."""
    if tuple(m.shape[-2:]) == tuple(size):
        return m * value_scale
    return F.interpolate(m, size=size, mode="bilinear", align_corners=False) * value_scale
