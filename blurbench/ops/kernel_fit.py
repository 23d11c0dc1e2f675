"""Least-squares fit of one blur kernel to a (sharp, blurry) pair: the ``oracle-uniform`` baseline.

Solves, for a kernel ``k`` of size K × K on the probability simplex (``k >= 0``, ``sum k = 1``)::

    min_k  sum_{c, x in S} (reblur(u, k, "reflect")_c(x) - v_c(x))²     (one kernel everywhere, F.conv2d correlation)

over a set ``S`` of output pixels: all of them when the image has at most ``pixels`` pixels, else ``pixels``
drawn uniformly without replacement with a fixed seed (an unbiased subsample of the full objective that keeps
the K² × K² normal matrix cheap to form: rows = |S| · C patches of the reflect-padded image).

Because ``sum k = 1`` on the simplex, ``reblur(u, k) = reblur(u - ū, k) + ū`` (``ū`` the per-channel mean), so
the normal equations are formed from mean-free images (better conditioned: no huge DC eigenvalue). Solution:
the ridge-regularised unconstrained solution (ridge 1e-6 · mean diagonal), projected onto the simplex
(Euclidean projection by sorting, Duchi et al. 2008), then ``iterations`` FISTA steps of projected gradient on
the exact quadratic (step 1 / (1.01 λ_max), λ_max by power iteration). The quadratic is convex; the result
is its minimiser up to the iteration budget.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from blurbench.ops.reblur import pad_sizes

__all__ = ["fit_uniform_kernel", "project_simplex"]


def project_simplex(x: Tensor) -> Tensor:
    """Euclidean projection of each row of ``x`` [..., n] onto {p >= 0, sum p = 1}."""
    shape = x.shape
    v = x.reshape(-1, shape[-1])
    s, _ = torch.sort(v, dim=1, descending=True)
    css = s.cumsum(1) - 1
    ind = torch.arange(1, v.shape[1] + 1, device=v.device, dtype=v.dtype)
    cond = s - css / ind > 0
    rho = cond.to(v.dtype).cumsum(1).argmax(1, keepdim=True)  # last index where cond holds
    theta = css.gather(1, rho) / (rho + 1).to(v.dtype)
    return (v - theta).clamp_min(0).reshape(shape)


def fit_uniform_kernel(sharp: Tensor, blurry: Tensor, kernel_size: int = 33, *, pixels: int = 2048,
                       iterations: int = 500, seed: int = 0) -> Tensor:
    """Best single kernel [K, K] (non-negative, sums to 1) with ``reblur(sharp, k, "reflect") ≈ blurry``.

    Args:
        sharp, blurry: [C, H, W] (same size), any range.
        kernel_size: K (odd).
        pixels: size of the output-pixel subset S (see the module docstring).
        iterations: FISTA iterations after the projected ridge solution.
        seed: seed of the pixel subset.
    """
    if sharp.shape != blurry.shape or sharp.dim() != 3:
        raise ValueError(f"sharp and blurry must both be [C, H, W], got {tuple(sharp.shape)}, {tuple(blurry.shape)}")
    k = kernel_size
    c, h, w = sharp.shape
    u = sharp.float()
    mean = u.mean((1, 2), keepdim=True)
    u, v = u - mean, blurry.float() - mean
    before, after = pad_sizes(k)
    up = F.pad(u[None], (before, after, before, after), mode="reflect")[0]  # [C, H + K - 1, W + K - 1]
    if h * w <= pixels:
        sel = torch.arange(h * w, device=u.device)
    else:
        gen = torch.Generator().manual_seed(seed)
        sel = torch.randperm(h * w, generator=gen)[:pixels].sort().values.to(u.device)
    ys, xs = sel // w, sel % w
    off = torch.arange(k, device=u.device)
    rows = (ys[:, None, None] + off[None, :, None]).expand(-1, k, k)  # [P, K, K]
    cols = (xs[:, None, None] + off[None, None, :]).expand(-1, k, k)
    a = up[:, rows, cols].reshape(c * sel.numel(), k * k)  # one row per (channel, pixel): its K x K patch
    y = v[:, ys, xs].reshape(-1)
    gram = (a.t() @ a).double()
    rhs = (a.t() @ y).double()
    del a
    ridge = 1e-6 * float(gram.diagonal().mean()) + 1e-12
    eye = torch.eye(k * k, dtype=torch.float64, device=u.device)
    x = project_simplex(torch.linalg.solve(gram + ridge * eye, rhs))
    z = torch.ones_like(rhs)  # largest eigenvalue by power iteration (eigvalsh is ~50x slower here)
    lip = 0.0
    for _ in range(100):
        z = gram @ z
        lip = float(z.norm())
        if lip == 0:
            break
        z = z / lip
    step = 1.0 / max(1.01 * lip, 1e-12)  # 1 % margin: power iteration approaches lambda_max from below
    z, t = x.clone(), 1.0
    for _ in range(iterations):
        x_new = project_simplex(z - step * (gram @ z - rhs))
        t_new = (1 + (1 + 4 * t * t) ** 0.5) / 2
        z = x_new + ((t - 1) / t_new) * (x_new - x)
        x, t = x_new, t_new
    return x.view(k, k).to(sharp.dtype)
