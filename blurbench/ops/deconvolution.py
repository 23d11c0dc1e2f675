"""Non-blind deconvolution with a spatially varying blur field, over ``reblur``/``reblur_adjoint``.

All solvers take the blurry image ``blurry`` [N, C, H, W] in [0, 1], the field ``kernels`` [N, B, K, K] and
``mixing`` [N, B, H, W] (the forward model of :func:`blurbench.ops.reblur.reblur`, cross-correlation,
``padding`` as there, output the same size as the input) and return the estimate [N, C, H, W].
"""

from __future__ import annotations

import math

import torch

from blurbench.ops.reblur import reblur, reblur_adjoint


def richardson_lucy(
    blurry: torch.Tensor, kernels: torch.Tensor, mixing: torch.Tensor, iterations: int = 30,
    padding: str = "reflect", eps: float = 1e-6,
) -> torch.Tensor:
    """Spatially varying Richardson–Lucy: ``u ← u · Aᵀ(v / Au) / Aᵀ1``, started from the blurry image.

    Dividing by ``Aᵀ1`` (not 1) keeps the multiplicative update unbiased near borders, where reflect
    padding makes the column sums of A differ from one.
    """
    v = blurry.clamp_min(eps)
    norm = reblur_adjoint(torch.ones_like(v), kernels, mixing, padding).clamp_min(eps)
    u = v.clone()
    for _ in range(iterations):
        ratio = v / reblur(u, kernels, mixing, padding).clamp_min(eps)
        u = u * reblur_adjoint(ratio, kernels, mixing, padding) / norm
    return u.clamp(0, 1)


def gradient(u: torch.Tensor) -> torch.Tensor:
    """Forward differences with Neumann boundary: [N, C, H, W] -> [N, 2, C, H, W] (d/dy, d/dx)."""
    gy = torch.zeros_like(u)
    gx = torch.zeros_like(u)
    gy[..., :-1, :] = u[..., 1:, :] - u[..., :-1, :]
    gx[..., :, :-1] = u[..., :, 1:] - u[..., :, :-1]
    return torch.stack((gy, gx), dim=1)


def divergence(p: torch.Tensor) -> torch.Tensor:
    """Negative adjoint of :func:`gradient`: ``⟨∇u, p⟩ = −⟨u, div p⟩``."""
    py, px = p[:, 0], p[:, 1]
    dy = torch.zeros_like(py)
    dx = torch.zeros_like(px)
    dy[..., 0, :] = py[..., 0, :]
    dy[..., 1:-1, :] = py[..., 1:-1, :] - py[..., :-2, :]
    dy[..., -1, :] = -py[..., -2, :]
    dx[..., :, 0] = px[..., :, 0]
    dx[..., :, 1:-1] = px[..., :, 1:-1] - px[..., :, :-2]
    dx[..., :, -1] = -px[..., :, -2]
    return dy + dx


def tv_deconvolution(
    blurry: torch.Tensor, kernels: torch.Tensor, mixing: torch.Tensor, weight: float = 0.003,
    iterations: int = 150, padding: str = "reflect",
) -> torch.Tensor:
    """``argmin_u ½‖Au − v‖² + weight·TV(u)`` by primal–dual (Chambolle–Pock), colour (vectorial) TV.

    Step sizes use ``‖A‖² ≤ 2`` (each output is a convex combination of inputs; reflect padding at most
    doubles a column sum) and ``‖∇‖² ≤ 8``.
    """
    step = 0.99 / math.sqrt(2.0 + 8.0)
    u = blurry.clone()
    u_bar = u.clone()
    p = torch.zeros_like(gradient(u))
    q = torch.zeros_like(blurry)
    for _ in range(iterations):
        p = p + step * gradient(u_bar)
        scale = (p.pow(2).sum(dim=(1, 2), keepdim=True).sqrt() / weight).clamp_min(1.0)
        p = p / scale
        q = (q + step * (reblur(u_bar, kernels, mixing, padding) - blurry)) / (1 + step)
        u_next = (u - step * (reblur_adjoint(q, kernels, mixing, padding) - divergence(p))).clamp(0, 1)
        u_bar = 2 * u_next - u
        u = u_next
    return u
