"""Coarse-to-fine pyramid (the MATLAB release: scale 0.9, at most 17 levels, short side ≥ 16 px)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["pyramid_shapes", "resize_images", "resize_flows", "resize_maps"]


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
