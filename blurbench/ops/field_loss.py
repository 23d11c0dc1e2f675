"""Distances between blur fields, computed without forming the [H, W, K, K] per-pixel kernels at full size.

A field (:class:`blurbench.ops.reblur.BlurField`: kernels ``k_b`` [N, B, K, K], mixing ``m_b`` [N, B, H, W])
defines a kernel at every pixel ``k_x = sum_b m_b(x) k_b``. Two fields on the same H × W grid (their B may differ)
are compared pixel by pixel; their boundary models (``padding``) play no part.

Squared L2 (exact, memory O(N·H·W·(B1 + B2)) plus the B × B Gram matrices)::

    ||k1_x - k2_x||² = m1_xᵀ G11 m1_x - 2 m1_xᵀ G12 m2_x + m2_xᵀ G22 m2_x,
    G11 = K1 K1ᵀ [B1, B1],  G12 = K1 K2ᵀ [B1, B2],  G22 = K2 K2ᵀ [B2, B2]   (K = kernels flattened to [B, K²])

L1 (``sum over taps |k1_x - k2_x|``) has no such identity: :func:`weighted_l1_kernel_distance` forms the
kernels of at most ``chunk`` pixels at a time under activation checkpointing, so the peak extra memory is
about ``3 · chunk · K² · 4`` bytes (≈ 53 MB for chunk 4096, K = 33) in the forward *and* the backward pass,
whatever H × W; pixels of weight 0 are skipped (they contribute nothing).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from blurbench.ops.reblur import BlurField

__all__ = ["field_sq_distance", "field_sq_norm", "weighted_l1_kernel_distance", "weighted_l2_kernel_distance"]


def _check(f1: BlurField, f2: BlurField) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The two fields' (kernels, mixing, kernels, mixing), checked to be comparable."""
    k1, m1, k2, m2 = f1.kernels, f1.mixing, f2.kernels, f2.mixing
    if k1.dim() != 4 or k2.dim() != 4 or m1.dim() != 4 or m2.dim() != 4:
        raise ValueError("kernels must be [N, B, K, K] and mixing [N, B, H, W]")
    if k1.shape[-2:] != k2.shape[-2:]:
        raise ValueError(f"kernel sizes differ: {tuple(k1.shape[-2:])} vs {tuple(k2.shape[-2:])}")
    if m1.shape[-2:] != m2.shape[-2:] or m1.shape[0] != m2.shape[0]:
        raise ValueError(f"mixing maps must share N, H, W: {tuple(m1.shape)} vs {tuple(m2.shape)}")
    if k1.shape[:2] != m1.shape[:2] or k2.shape[:2] != m2.shape[:2]:
        raise ValueError(f"kernels and mixing disagree on N or B: {tuple(k1.shape)}/{tuple(m1.shape)}, "
                         f"{tuple(k2.shape)}/{tuple(m2.shape)}")
    return k1, m1, k2, m2


def _quadratic(m1: Tensor, gram: Tensor, m2: Tensor) -> Tensor:
    """``m1_xᵀ G m2_x`` at every pixel [N, H, W]."""
    return (m1 * torch.einsum("nij,njhw->nihw", gram, m2)).sum(1)


def field_sq_norm(field: BlurField) -> Tensor:
    """Per-pixel squared L2 norm ``||k_x||²`` [N, H, W] (Gram identity; ≥ 0 up to float round-off)."""
    k, m = field.kernels, field.mixing
    if k.dim() != 4 or m.dim() != 4 or k.shape[:2] != m.shape[:2]:
        raise ValueError(f"kernels must be [N, B, K, K] and mixing [N, B, H, W] with the same N, B, got "
                         f"{tuple(k.shape)} and {tuple(m.shape)}")
    a = k.flatten(2)
    return _quadratic(m, a @ a.transpose(1, 2), m)


def field_sq_distance(f1: BlurField, f2: BlurField) -> Tensor:
    """Per-pixel squared L2 distance ``||k1_x - k2_x||²`` [N, H, W] via the Gram identity (module docstring).

    Differentiable. May be slightly negative (≈ -1e-7 in float32) from cancellation where the fields agree;
    clamp before a square root.
    """
    k1, m1, k2, m2 = _check(f1, f2)
    a, b = k1.flatten(2), k2.flatten(2)  # [N, B, K²]
    g11 = a @ a.transpose(1, 2)
    g12 = a @ b.transpose(1, 2)
    g22 = b @ b.transpose(1, 2)
    return _quadratic(m1, g11, m1) - 2 * _quadratic(m1, g12, m2) + _quadratic(m2, g22, m2)


def weighted_l2_kernel_distance(f1: BlurField, f2: BlurField, weights: Tensor | None = None) -> Tensor:
    """``sum_x w(x) ||k1_x - k2_x||²`` per sample [N] (``weights`` [N, H, W]; None = 1 everywhere)."""
    d = field_sq_distance(f1, f2)
    return (d if weights is None else d * weights).flatten(1).sum(1)


def _l1_chunk(a: Tensor, m1: Tensor, b: Tensor, m2: Tensor, w: Tensor) -> Tensor:
    """sum_p w_p sum_t |(a^T m1)_tp - (b^T m2)_tp| for one chunk: a [B1, T], m1 [B1, P], b [B2, T], m2 [B2, P]."""
    return ((a.t() @ m1 - b.t() @ m2).abs().sum(0) * w).sum()


def weighted_l1_kernel_distance(f1: BlurField, f2: BlurField, weights: Tensor | None = None, chunk: int = 4096
                                ) -> Tensor:
    """``sum_x w(x) sum_taps |k1_x - k2_x|`` per sample [N], in chunks of ``chunk`` pixels (bounded memory).

    Each chunk runs under :func:`torch.utils.checkpoint.checkpoint`, so autograd keeps only the chunk's inputs
    and recomputes its [K², chunk] kernels during backward (see the module docstring for the bound).
    """
    k1, m1, k2, m2 = _check(f1, f2)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    n = k1.shape[0]
    a, b = k1.flatten(2), k2.flatten(2)
    mm1, mm2 = m1.flatten(2), m2.flatten(2)  # [N, B, HW]
    w = torch.ones_like(mm1[:, 0]) if weights is None else weights.flatten(1).to(mm1.dtype)
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (k1, m1, k2, m2))
    out = []
    for i in range(n):
        idx = torch.nonzero(w[i] != 0).squeeze(1)
        total = mm1.new_zeros(())
        for s in range(0, idx.numel(), chunk):
            sel = idx[s:s + chunk]
            args = (a[i], mm1[i][:, sel], b[i], mm2[i][:, sel], w[i][sel])
            part = checkpoint(_l1_chunk, *args, use_reentrant=False) if grad else _l1_chunk(*args)
            total = total + part
        out.append(total)
    return torch.stack(out)
