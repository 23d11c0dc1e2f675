"""Pictures of blur fields (pure torch): per-pixel kernels drawn over the image, mixing maps, kernel bases.

All functions take single images (no batch dimension) and return float32 [3, H, W] tensors in [0, 1]
ready for ``write_image`` or TensorBoard's ``add_image``. Kernels are correlation kernels (``F.conv2d``
convention, see :mod:`blurbench.ops.reblur`), drawn as stored: tap (i, j) at row i, column j, so a kernel
reads like the streak it produces.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["basis_grid", "kernel_field_image", "mixing_grid"]

_KERNEL_COLOUR = (1.0, 1.0, 0.2)  # yellow strokes read well over most photos


def _normalise_peak(k: Tensor) -> Tensor:
    """Scale each [.., K, K] kernel so its largest tap is 1 (shape, not energy, is what one reads)."""
    peak = k.flatten(-2).amax(-1).clamp_min(1e-12)
    return (k / peak[..., None, None]).clamp(0, 1)


def kernel_field_image(image: Tensor, kernels: Tensor, mixing: Tensor, grid: int = 8, dim: float = 0.5) -> Tensor:
    """The image (darkened) with the local kernel ``sum_b m_b(x) k_b`` drawn at a grid of pixels (paper Fig. 3).

    Args:
        image: [3 or 1, H, W] in [0, 1] (the blurry image, usually).
        kernels: [B, K, K]; mixing: [B, H, W] at the image size.
        grid: number of kernels along the longer side; cells are square.
        dim: brightness factor applied to the image under the kernels.

    Returns:
        [3, H, W]; each cell shows its centre pixel's kernel, peak-normalised and resized to the cell (at most
        2x the kernel size, nearest-neighbour so taps stay visible), blended in yellow with alpha = tap value.
    """
    if image.dim() != 3 or kernels.dim() != 3 or mixing.dim() != 3:
        raise ValueError("kernel_field_image takes one image [C, H, W], kernels [B, K, K] and mixing [B, H, W]")
    h, w = image.shape[-2:]
    if tuple(mixing.shape[-2:]) != (h, w) or mixing.shape[0] != kernels.shape[0]:
        raise ValueError(f"mixing {tuple(mixing.shape)} must be [B, {h}, {w}] with B = {kernels.shape[0]}")
    image = image.detach().float().cpu()
    kernels, mixing = kernels.detach().float().cpu(), mixing.detach().float().cpu()
    out = (image.expand(3, h, w) if image.shape[0] == 1 else image[:3]).clone() * dim
    cell = max(h, w) / max(grid, 1)
    ny, nx = max(1, int(h // cell)), max(1, int(w // cell))
    ch, cw = h / ny, w / nx
    k = kernels.shape[-1]
    side = int(min(ch, cw, 2 * k) * 0.9)
    if side < 3:
        return out.clamp(0, 1)
    ys = torch.tensor([int((i + 0.5) * ch) for i in range(ny)])
    xs = torch.tensor([int((j + 0.5) * cw) for j in range(nx)])
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    m = mixing[:, yy.flatten(), xx.flatten()]  # [B, P]
    local = _normalise_peak(torch.einsum("bp,bij->pij", m, kernels))  # [P, K, K]
    tiles = F.interpolate(local[:, None], size=(side, side), mode="nearest")[:, 0]  # [P, s, s]
    colour = torch.tensor(_KERNEL_COLOUR)[:, None, None]
    for p, (y, x) in enumerate(zip(yy.flatten().tolist(), xx.flatten().tolist())):
        y0, x0 = max(0, y - side // 2), max(0, x - side // 2)
        y1, x1 = min(h, y0 + side), min(w, x0 + side)
        a = tiles[p, :y1 - y0, :x1 - x0]
        out[:, y0:y1, x0:x1] = out[:, y0:y1, x0:x1] * (1 - a) + colour * a
    return out.clamp(0, 1)


def _tile(maps: Tensor, ncols: int, pad: int, value: float) -> Tensor:
    """[n, h, w] -> [H, W] mosaic with ``ncols`` columns and ``pad`` px borders of ``value``."""
    n, h, w = maps.shape
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    canvas = torch.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad), value)
    for i in range(n):
        r, c = divmod(i, ncols)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = maps[i]
    return canvas


def mixing_grid(mixing: Tensor, ncols: int = 5, pad: int = 2) -> Tensor:
    """Mixing maps [B, H, W] (values in [0, 1]) as a grey mosaic [3, H', W'], white borders."""
    if mixing.dim() != 3:
        raise ValueError(f"mixing must be [B, H, W], got {tuple(mixing.shape)}")
    return _tile(mixing.detach().float().cpu().clamp(0, 1), ncols, pad, 1.0).expand(3, -1, -1).contiguous()


def basis_grid(kernels: Tensor, ncols: int = 5, pad: int = 2, zoom: int = 3) -> Tensor:
    """Kernel basis [B, K, K] as a mosaic [3, H', W'] (each peak-normalised, enlarged ``zoom`` times)."""
    if kernels.dim() != 3:
        raise ValueError(f"kernels must be [B, K, K], got {tuple(kernels.shape)}")
    k = _normalise_peak(kernels.detach().float().cpu())
    if zoom > 1:
        k = F.interpolate(k[:, None], scale_factor=zoom, mode="nearest")[:, 0]
    return _tile(k, ncols, pad, 0.5).expand(3, -1, -1).contiguous()
