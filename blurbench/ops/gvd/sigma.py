"""Defocus-map sub-problem (TPAMI 2017 eqs. 15–17).

With ``L``, flows and ``τ`` fixed, the per-pixel Gaussian widths ``σ_i(x) ∈ [0, σ_max]`` (pixels) minimise
``λ Σ κ_c‖K G(σ) ∂_c L − ∂_c B‖² + ν_σ Σ wTV(σ)``. As for the flows, each warp linearises the data term
around ``σ₀``: ``r + J·Δσ`` with ``J = K(∂G/∂σ ∂_c L)`` (the derivative is taken per pixel, i.e. σ locally
constant over the motion kernel's support), a Gauss–Newton quadratic, the edge-weighted TV through its
dual, the box constraint in the prox; the step is capped and accepted by a line search on the true energy.
"""

from __future__ import annotations

import torch

from blurbench.ops.finite_differences import grad, grad_adjoint
from blurbench.ops.gvd.defocus import DefocusBlur, defocus_blur_dsigma, defocus_radius
from blurbench.ops.gvd.energy import weighted_tv_energy
from blurbench.ops.gvd.flow import FlowProblem, _colsum_tv
from blurbench.ops.gvd.kernels import SampledMotionBlur

__all__ = ["sigma_energy", "sigma_step"]


def sigma_energy(prob: FlowProblem, flow_fw: torch.Tensor, flow_bw: torch.Tensor, sigma: torch.Tensor,
                 nu_sigma: float, radius: int) -> torch.Tensor:
    """Terms of the energy that depend on σ (data + σ TV), a scalar."""
    blur = SampledMotionBlur(flow_fw, flow_bw, prob.tau, prob.half_taps) @ DefocusBlur(sigma, radius)
    res = blur.A(prob.dl) - prob.db
    return prob.lam * res.square().sum() + nu_sigma * weighted_tv_energy(sigma, prob.wx, prob.wy).sum()


def sigma_step(prob: FlowProblem, flow_fw: torch.Tensor, flow_bw: torch.Tensor, sigma: torch.Tensor,
               nu_sigma: float, sigma_max: float = 2.5, warps: int = 3, pd_iters: int = 21,
               damping: float = 1e-2, max_step: float = 0.5, line_search: int = 4
               ) -> tuple[torch.Tensor, dict[str, float]]:
    """Refine the defocus maps [T, 1, H, W]; returns ``(sigma, info)`` with the energy before/after."""
    s_cur = sigma.clamp(0.0, sigma_max)
    # one support for the whole step: every candidate stays below max σ₀ + max_step
    radius = defocus_radius(min(sigma_max, float(s_cur.max()) + max_step))
    e_cur = sigma_energy(prob, flow_fw, flow_bw, s_cur, nu_sigma, radius)
    info = {"energy_before": float(e_cur), "accepted": 0, "tried": 0}
    eps = 1e-8
    wx, wy = prob.wx, prob.wy
    # diagonal preconditioning (Pock & Chambolle 2011) with the dual steps scaled up by ν_σ and the primal ones
    # down (σ·τ unchanged): the dual lives in a ball of radius ν_σ and would need ~ν_σ/0.25 iterations to reach it
    scale = max(1.0, float(nu_sigma))
    tau_p = 1.0 / (scale * _colsum_tv(wx, wy) + eps)
    sig_p = scale / (2.0 * torch.maximum(wx, wy) + eps)
    # the TV dual is warm-started from warp to warp (the TV term does not change with the linearisation point):
    # restarting it from zero left 21 iterations too few to propagate the TV and the proposals stalled
    px = torch.zeros_like(s_cur)
    py = torch.zeros_like(s_cur)
    motion = SampledMotionBlur(flow_fw, flow_bw, prob.tau, prob.half_taps)  # the flows are fixed in this step
    for _ in range(warps):
        r = motion.A(DefocusBlur(s_cur, radius).A(prob.dl)) - prob.db
        j = motion.A(defocus_blur_dsigma(prob.dl, s_cur, radius))
        h = 2.0 * prob.lam * j.square().sum(1, keepdim=True)
        g = 2.0 * prob.lam * (j * r).sum(1, keepdim=True)
        s0 = s_cur
        s = s0.clone()
        sbar = s0.clone()
        denom = 1.0 / tau_p + h + damping
        for _ in range(pd_iters):
            dx, dy = grad(sbar)
            px += sig_p * wx * dx
            py += sig_p * wy * dy
            scale = (torch.sqrt(px.square() + py.square()) / nu_sigma).clamp_min(1.0)
            px /= scale
            py /= scale
            st = s - tau_p * grad_adjoint(wx * px, wy * py)
            s_new = (s0 + ((st - s0) / tau_p - g) / denom).clamp(0.0, sigma_max)
            sbar = 2.0 * s_new - s
            s = s_new
        step = (s - s0).clamp(-max_step, max_step)
        info["tried"] += 1
        alpha = 1.0
        for _ in range(line_search):
            cand = (s0 + alpha * step).clamp(0.0, sigma_max)
            e_new = sigma_energy(prob, flow_fw, flow_bw, cand, nu_sigma, radius)
            if float(e_new) < float(e_cur):
                s_cur, e_cur = cand, e_new
                info["accepted"] += 1
                break
            alpha *= 0.5
    info["energy_after"] = float(e_cur)
    return s_cur, info
