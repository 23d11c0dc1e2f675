"""Non-blind deconvolution with a linear blur operator (``A``, ``A_adjoint``).

All solvers take the blurry image ``blurry`` [N, C, H, W] in [0, 1] and the forward model ``op``, a
:class:`~blurbench.ops.linear_operator.LinearOperator` whose output has the size of its input (e.g.
:class:`blurbench.ops.reblur.BlurField` with a padded boundary: ``BlurField(kernels, mixing, "reflect")``), and
return the estimate [N, C, H, W].
"""

from __future__ import annotations

import math

import torch

from blurbench.ops.finite_differences import grad, grad_adjoint
from blurbench.ops.linear_operator import LinearOperator


def richardson_lucy(
    blurry: torch.Tensor, op: LinearOperator, iterations: int = 30, eps: float = 1e-6,
) -> torch.Tensor:
    """Spatially varying Richardson–Lucy: ``u ← u · Aᵀ(v / Au) / Aᵀ1``, started from the blurry image.

    Dividing by ``Aᵀ1`` (not 1) keeps the multiplicative update unbiased near borders, where reflect
    padding makes the column sums of A differ from one.
    """
    v = blurry.clamp_min(eps)
    norm = op.A_adjoint(torch.ones_like(v)).clamp_min(eps)
    u = v.clone()
    for _ in range(iterations):
        ratio = v / op.A(u).clamp_min(eps)
        u = u * op.A_adjoint(ratio) / norm
    return u.clamp(0, 1)


def tv_deconvolution(
    blurry: torch.Tensor, op: LinearOperator, weight: float = 0.003, iterations: int = 150,
) -> torch.Tensor:
    """``argmin_u ½‖Au − v‖² + weight·TV(u)`` by primal–dual (Chambolle–Pock), colour (vectorial) TV.

    Step sizes assume ``‖A‖² ≤ 2`` (true of a blur field whose kernels and maps are convex weights: each output is a
    convex combination of inputs; reflect padding at most doubles a column sum) and use ``‖∇‖² ≤ 8``.
    """
    step = 0.99 / math.sqrt(2.0 + 8.0)
    u = blurry.clone()
    u_bar = u.clone()
    px, py = torch.zeros_like(u), torch.zeros_like(u)
    q = torch.zeros_like(blurry)
    for _ in range(iterations):
        gx, gy = grad(u_bar)
        px, py = px + step * gx, py + step * gy
        # colour TV: one norm over directions and channels
        scale = ((px.pow(2) + py.pow(2)).sum(dim=1, keepdim=True).sqrt() / weight).clamp_min(1.0)
        px, py = px / scale, py / scale
        q = (q + step * (op.A(u_bar) - blurry)) / (1 + step)
        u_next = (u - step * (op.A_adjoint(q) + grad_adjoint(px, py))).clamp(0, 1)
        u_bar = 2 * u_next - u
        u = u_next
    return u
