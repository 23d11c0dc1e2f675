"""Elementary linear operators shared by the GVD solver: bilinear sampling, warping, finite differences.

Conventions (all of ``blurbench.ops.gvd``):

* images are NCHW float tensors in [0, 1]; ``T`` (frames) plays the role of ``N``;
* a flow is ``[N, 2, H, W]`` in pixels, channel 0 = x (columns), channel 1 = y (rows);
* ``flow_{a→b}`` is the *forward* displacement of a pixel of frame ``a``: ``L_a(x) ≈ L_b(x + flow(x))``;
* backward warping ``warp(L_b, flow_{a→b})(x) = L_b(x + flow(x))`` brings frame ``b`` onto the grid of ``a``;
* sampling is bilinear with the coordinates clamped to the image (``border`` padding, the MATLAB code's
  clamping), and every sampling operator has an exact adjoint (the scatter of the same weights).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from blurbench.ops.finite_differences import grad

__all__ = [
    "pixel_grid", "grid_scale", "sample", "sample_adjoint", "sample_grid", "sample_grid_adjoint", "warp",
    "warp_adjoint", "edge_weights",
]

_PADDING = {"zeros": 0, "border": 1, "reflection": 2}
#: values per image (C·H·W) from which batched sampling (:func:`sample_grid` and its adjoint) and the tap-by-tap
#: renderers built on it (:mod:`~.kernels`) go image by image: an image's input, grid and accumulator then stay in
#: cache across the taps (render 2.1x faster at 1280×720, 3 channels, 33 taps, one thread on the AMD EPYC; the same
#: arithmetic per pixel, so bit for bit the same result)
BY_IMAGE_MIN = 1 << 16


def pixel_grid(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """Pixel coordinates ``[H, W, 2]`` (x, y) on ``like``'s device and dtype."""
    ys = torch.arange(h, device=like.device, dtype=like.dtype)
    xs = torch.arange(w, device=like.device, dtype=like.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=-1)


def grid_scale(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """(x, y) factors from pixels to ``grid_sample``'s ``align_corners=True`` units: ``grid = pos · scale − 1``."""
    return like.new_tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)])


def _normalise(pos: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Pixel coordinates [N, H', W', 2] -> grid_sample's ``align_corners=True`` coordinates in [-1, 1]."""
    return pos * grid_scale(h, w, pos) - 1.0


def one_image_at_a_time(x: torch.Tensor) -> bool:
    """Whether the batch ``x`` [N, ...] goes image by image: several images of at least :data:`BY_IMAGE_MIN` values."""
    return x.shape[0] > 1 and x[0].numel() >= BY_IMAGE_MIN


def sample_grid(img: torch.Tensor, grid: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """:func:`sample` at an already normalised ``grid`` (``pos · grid_scale − 1``), for callers that normalise once.

    Large batches go one image at a time (from :data:`BY_IMAGE_MIN` values per image): its input stays in cache
    while it is gathered from, for the same per-pixel arithmetic (bit for bit the same result).
    """
    if one_image_at_a_time(img):
        out = img.new_empty(img.shape[0], img.shape[1], *grid.shape[1:3])
        for i in range(img.shape[0]):
            _sample_image(img[i:i + 1], grid[i:i + 1], padding, out[i:i + 1])
        return out
    if img.shape[0] == 1 and _row_parts(grid) > 1:
        out = img.new_empty(1, img.shape[1], *grid.shape[1:3])
        return _sample_image(img, grid, padding, out)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode=padding, align_corners=True)


def _row_parts(grid: torch.Tensor) -> int:
    """Row bands that one image's sampling is split into: the CPU's threads for a large grid, else 1."""
    if grid.device.type != "cpu" or grid[0].numel() < BY_IMAGE_MIN:
        return 1
    return min(torch.get_num_threads(), grid.shape[1])


def _sample_image(img: torch.Tensor, grid: torch.Tensor, padding: str, out: torch.Tensor) -> torch.Tensor:
    """One image [1, C, H, W] sampled at ``grid`` [1, H', W', 2] into ``out`` [1, C, H', W'].

    ``grid_sample`` shares its CPU threads over the batch only, so a single image would run on one core: its
    grid's rows go in as a batch of bands over the same (expanded, not copied) image instead, one band per
    thread. Every output value comes from the same arithmetic, so the result is bit for bit the same.
    """
    parts = _row_parts(grid)
    h2, w2 = grid.shape[1:3]
    rows = h2 // parts
    split = rows * parts if parts > 1 else 0
    if split:
        bands = F.grid_sample(img.expand(parts, -1, -1, -1), grid[:, :split].reshape(parts, rows, w2, 2),
                              mode="bilinear", padding_mode=padding, align_corners=True)  # [parts, C, rows, W']
        out[0, :, :split].view(img.shape[1], parts, rows, w2).copy_(bands.transpose(0, 1))
    if split < h2:
        out[:, :, split:] = F.grid_sample(img, grid[:, split:], mode="bilinear", padding_mode=padding,
                                          align_corners=True)
    return out


def sample_grid_adjoint(v: torch.Tensor, grid: torch.Tensor, size: tuple[int, int], padding: str = "border"
                        ) -> torch.Tensor:
    """Exact adjoint of :func:`sample_grid` for an input of spatial ``size``: scatters ``v`` with the same weights."""
    h, w = size
    n, c = v.shape[:2]
    if one_image_at_a_time(v):
        return torch.cat([sample_grid_adjoint(v[i:i + 1], grid[i:i + 1], size, padding) for i in range(n)])
    shape_only = v.new_zeros(()).expand(n, c, h, w)
    grad_in, _ = torch.ops.aten.grid_sampler_2d_backward(
        v.contiguous(), shape_only, grid, 0, _PADDING[padding], True, [True, False])
    return grad_in


def sample(img: torch.Tensor, pos: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """Bilinear samples ``img[n, :, pos[n, i, j, 1], pos[n, i, j, 0]]``.

    Shapes: [N, C, H, W] x [N, H', W', 2] -> [N, C, H', W'].
    """
    h, w = img.shape[-2:]
    return sample_grid(img, _normalise(pos, h, w), padding)


def sample_adjoint(v: torch.Tensor, pos: torch.Tensor, size: tuple[int, int], padding: str = "border"
                   ) -> torch.Tensor:
    """Exact adjoint of :func:`sample` for an input of spatial ``size``: scatters ``v`` with the same weights."""
    return sample_grid_adjoint(v, _normalise(pos, *size), size, padding)


def warp(img: torch.Tensor, flow: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """Backward warp ``img(x + flow(x))``; ``flow`` [N, 2, H, W] in pixels on the output grid."""
    h, w = flow.shape[-2:]
    pos = pixel_grid(h, w, flow) + flow.permute(0, 2, 3, 1)
    return sample(img, pos, padding)


def warp_adjoint(v: torch.Tensor, flow: torch.Tensor, size: tuple[int, int] | None = None,
                 padding: str = "border") -> torch.Tensor:
    """Exact adjoint of :func:`warp` (forward splatting of ``v`` with the bilinear weights)."""
    h, w = flow.shape[-2:]
    pos = pixel_grid(h, w, flow) + flow.permute(0, 2, 3, 1)
    return sample_adjoint(v, pos, size or (h, w), padding)


def edge_weights(img: torch.Tensor, v_i: float, floor: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Edge-stopping weights ``g = max(floor, exp(-(∂L)² / (2 v_I)))`` per direction (x, y), eq. 6–7.

    ``img`` [N, C, H, W]; colour images use the mean over channels. Returns two [N, 1, H, W] maps.
    """
    gray = img.mean(dim=1, keepdim=True)
    gx, gy = grad(gray)
    wx = torch.exp(-gx.square() / (2.0 * v_i)).clamp_min(floor)
    wy = torch.exp(-gy.square() / (2.0 * v_i)).clamp_min(floor)
    return wx, wy
