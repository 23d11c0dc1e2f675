"""Latent-frame sub-problem (TPAMI 2017 eqs. 9–10): primal-dual with a conjugate-gradient data prox.

With flows, σ and τ fixed, the latent frames ``L`` [T, C, H, W] minimise
``λ Σ κ_c‖A D_c L − D_c B‖² + ‖∇L‖_{2,1} + μ Σ m|L_i − W_{i,n} L_{i+n}|`` (see :mod:`.energy`).
Chambolle–Pock on the non-smooth part ``F(∇L, TL)`` (dual ``p`` in the unit ball per pixel and channel,
dual ``q`` clipped to ``±μ·m``), the data term as ``G`` whose prox
``(I/(2τλ) + Σ D_cᵀAᵀA D_c) L = L̂/(2τλ) + Σ D_cᵀAᵀ D_c B`` is solved by a few CG iterations warm-started
at ``L̂`` (the MATLAB release: 5 primal-dual × 5 CG iterations, clipping to [0, 1] after each prox).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from blurbench.ops.finite_differences import grad, grad_adjoint
from blurbench.ops.gvd.energy import (
    DATA_WEIGHTS,
    FRAME_SPLIT_MIN,
    TemporalLinks,
    data_channels,
    data_channels_adjoint,
    data_energy,
    frame_operators,
    temporal_energy,
    tv_energy,
)
from blurbench.ops.linear_operator import LinearOperator
from blurbench.procmem import release_free_heap

__all__ = ["latent_energy", "latent_step", "conjugate_gradient"]


def latent_energy(latent: torch.Tensor, blurry: torch.Tensor, op: LinearOperator, links: TemporalLinks | None,
                  lam: float, mu: float, weights: tuple[float, float, float] = DATA_WEIGHTS) -> torch.Tensor:
    """The terms of the energy that depend on ``L`` (data + TV + temporal), per frame [T]."""
    e = data_energy(latent, blurry, op, lam, weights) + tv_energy(latent)
    if links is not None and mu > 0:
        e = e + temporal_energy(latent, links, mu)
    return e


def conjugate_gradient(apply_a: Callable[[torch.Tensor], torch.Tensor], rhs: torch.Tensor, x0: torch.Tensor,
                       iters: int) -> torch.Tensor:
    """CG for an SPD operator acting independently on each frame (dot products per frame, dim 0)."""
    x = x0.clone()
    r = rhs - apply_a(x)
    p = r.clone()
    dims = tuple(range(1, x.ndim))
    shape = (-1,) + (1,) * (x.ndim - 1)
    rs = r.square().sum(dim=dims)
    tiny = torch.finfo(x.dtype).tiny
    for _ in range(iters):
        ap = apply_a(p)
        alpha = rs / (p * ap).sum(dim=dims).clamp_min(tiny)
        x += alpha.view(shape) * p
        r -= alpha.view(shape) * ap
        rs_new = r.square().sum(dim=dims)
        beta = rs_new / rs.clamp_min(tiny)
        p = r + beta.view(shape) * p
        rs = rs_new
    return x


def _norm_sq_estimate(links: TemporalLinks | None, like: torch.Tensor, iters: int = 8) -> float:
    """Power iteration for ``‖[∇; T]‖²`` (8 is the bound of ∇ alone)."""
    if links is None or not links.offsets:
        return 8.0
    # a fixed start: the step sizes (and so the result) must not depend on the global RNG's state
    gen = torch.Generator(device=like.device).manual_seed(0)
    x = torch.rand(like[:, :1].shape, generator=gen, device=like.device, dtype=like.dtype)
    val = 8.0
    for _ in range(iters):
        x = x / x.norm().clamp_min(1e-12)
        gx, gy = grad(x)
        y = grad_adjoint(gx, gy) + links.adjoint(links.apply(x), x)
        val = float((x * y).sum())
        x = y
    return max(val * 1.05, 8.0)


def latent_step(latent: torch.Tensor, blurry: torch.Tensor, op: LinearOperator, links: TemporalLinks | None,
                lam: float, mu: float, pd_iters: int = 5, cg_iters: int = 5, pd_ratio: float = 80.0,
                weights: tuple[float, float, float] = DATA_WEIGHTS, clip: bool = True,
                ensure_descent: bool = True) -> torch.Tensor:
    """One latent update of the alternating minimisation; returns the new [T, C, H, W] frames.

    ``pd_ratio`` = σ/τ·‖K‖⁻¹ balance of the primal-dual steps (σ = ratio/‖K‖, τ = 1/(ratio·‖K‖); the
    MATLAB release uses σ = 20, τ = 1/320, i.e. a ratio ≈ 80). With ``ensure_descent`` a frame whose
    energy went up keeps its previous value (a safeguard for the few iterations run per level).
    """
    use_t = links is not None and mu > 0 and bool(links.offsets)
    norm = _norm_sq_estimate(links if use_t else None, latent) ** 0.5
    sig, tau = pd_ratio / norm, 1.0 / (pd_ratio * norm)
    coef = 1.0 / (2.0 * tau * lam)
    # the data prox acts on each frame alone (operator and CG dot products are per frame): solved frame by frame
    # when the operator splits, so the CG's temporaries are those of one frame (the colour pass at 720p)
    ops = frame_operators(latent, op)

    def normal_of(o: LinearOperator) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda x: coef * x + data_channels_adjoint(o.A_adjoint_A(data_channels(x, weights)), weights)

    def rhs_data(o: LinearOperator, b: torch.Tensor) -> torch.Tensor:
        return data_channels_adjoint(o.A_adjoint(data_channels(b, weights)), weights)

    if ops is None:
        b0 = rhs_data(op, blurry)
    else:
        b0 = torch.cat([rhs_data(o, blurry[f:f + 1]) for f, o in enumerate(ops)])

    def prox(x_hat: torch.Tensor) -> torch.Tensor:
        if ops is None:
            return conjugate_gradient(normal_of(op), b0 + coef * x_hat, x_hat, cg_iters)
        out = torch.empty_like(x_hat)
        for f, o in enumerate(ops):
            sl = slice(f, f + 1)
            out[sl] = conjugate_gradient(normal_of(o), b0[sl] + coef * x_hat[sl], x_hat[sl], cg_iters)
        return out

    # on the CPU the iterations' temporaries (per-frame CG vectors of ~10 MB, below glibc's mmap threshold) would
    # fragment the heap and stay resident: ~0.5 GB more peak in the 720p colour pass; returned after each iteration
    trim = latent.device.type == "cpu" and latent.numel() >= FRAME_SPLIT_MIN * latent.shape[0]
    x = latent.clone()
    xbar = x.clone()
    px = torch.zeros_like(x)
    py = torch.zeros_like(x)
    q = {n: torch.zeros_like(x[links.rows(n)[0]]) for n in links.offsets} if use_t else {}
    for _ in range(pd_iters):
        gx, gy = grad(xbar)
        px += sig * gx
        py += sig * gy
        scale = torch.sqrt(px.square() + py.square()).clamp_min(1.0)
        px /= scale
        py /= scale
        del gx, gy, scale  # not alive during the prox (a 720p colour window: 55 MB each)
        kty = grad_adjoint(px, py)
        if use_t:
            for n in links.offsets:  # one residual and one bound at a time (memory), q clipped in place
                r = links.residual(xbar, n)
                qn = q[n].add_(r, alpha=sig)
                del r
                bound = mu * links.mask[n]
                torch.minimum(qn, bound, out=qn)
                torch.maximum(qn, bound.neg_(), out=qn)
                del bound
            kty += links.adjoint(q, x)
        # in place where a result replaces its input (the same values: −(τ·k) + x = x − τ·k exactly); a 720p colour
        # window holds ~10 tensors of 55 MB here. x̄ is not read again before the prox: it keeps the old x
        x_hat = kty.mul_(-tau).add_(x)
        del kty
        xbar.copy_(x)
        del x
        x = prox(x_hat)
        del x_hat
        if clip:
            x.clamp_(0.0, 1.0)
        xbar.neg_().add_(x, alpha=2.0)  # 2·x − x_old, exactly
        if trim:
            release_free_heap()
    if ensure_descent:
        x = _safeguard(x, latent, blurry, op, links if use_t else None, lam, mu, weights)
    return x


def _safeguard(x: torch.Tensor, x0: torch.Tensor, blurry: torch.Tensor, op: LinearOperator,
               links: TemporalLinks | None, lam: float, mu: float, weights: tuple[float, float, float]
               ) -> torch.Tensor:
    """Return the lowest-energy of: the new frames, the old ones, new frames only where they improved."""
    e_new = latent_energy(x, blurry, op, links, lam, mu, weights)
    e_old = latent_energy(x0, blurry, op, links, lam, mu, weights)
    if float(e_new.sum()) <= float(e_old.sum()) and bool((e_new <= e_old).all()):
        return x
    worse = e_new > e_old
    mixed = torch.where(worse.view(-1, 1, 1, 1), x0, x)
    e_mix = float(latent_energy(mixed, blurry, op, links, lam, mu, weights).sum())
    best = min((float(e_new.sum()), 0), (e_mix, 1), (float(e_old.sum()), 2))[1]
    return (x, mixed, x0)[best]
