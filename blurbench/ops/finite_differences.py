"""Forward-difference gradient and its adjoint: the one ∇ / div pair of blurbench (TV solvers, GVD).

``grad(u) = (∂x u, ∂y u)`` with Neumann boundary (the difference is zero in the last column / row);
``grad_adjoint`` is its exact adjoint, ``⟨grad u, (px, py)⟩ = ⟨u, grad_adjoint(px, py)⟩``, and ``div = −grad_adjoint``.
Tensors are [..., H, W]; components come in (x, y) order.
"""

from __future__ import annotations

import torch

__all__ = ["div", "grad", "grad_adjoint"]


def grad(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences with Neumann boundary (zero in the last column/row): ``(∂x u, ∂y u)``."""
    gx = torch.zeros_like(u)
    gy = torch.zeros_like(u)
    gx[..., :, :-1] = u[..., :, 1:] - u[..., :, :-1]
    gy[..., :-1, :] = u[..., 1:, :] - u[..., :-1, :]
    return gx, gy


def grad_adjoint(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`grad`: ``⟨grad u, (px, py)⟩ = ⟨u, grad_adjoint(px, py)⟩`` (= −div)."""
    out = torch.zeros_like(px)
    out[..., :, :-1] -= px[..., :, :-1]
    out[..., :, 1:] += px[..., :, :-1]
    out[..., :-1, :] -= py[..., :-1, :]
    out[..., 1:, :] += py[..., :-1, :]
    return out


def div(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Discrete divergence, the negative adjoint of :func:`grad`."""
    return -grad_adjoint(px, py)
