"""Model-based deblurring with a denoiser prior (Carbajal et al. 2021, §4): hybrid steepest descent (HSD).

Problem: ``û = argmin_u L(u) = ‖S(A u) − v‖²`` subject to ``û = H_σ(û)``, with ``A`` the space-varying re-blur
:class:`blurbench.ops.reblur.BlurField` (cross-correlation, kernels [N, B, K, K], mixing maps [N, B, H, W]), ``S``
an optional soft saturation and ``H_σ`` a denoiser (:mod:`blurbench.ops.denoisers`, or DRUNet).

Iteration, as in the authors' submission code (NonUniformBlurKernelEstimation commit 35cf738,
``image_deblurring.py`` with defaults ``n_iters 30``, ``n_den_iters 15``, ``ratio_sigma 2``, ``alpha 0.9``,
``lambda_reblur 1``, ``use_clamp 0``):

1. ``x₀`` = the blurry image reflect-padded by ``((K−1)//2, K//2)``; the unknown is this larger sharp image and
   ``A`` is the 'valid' re-blur (``BlurField(kernels, mixing, "valid")``, mixing at the blurry size), so the
   border needs no boundary assumption. The result is cropped back.
2. Every iteration, a gradient step ``x ← x − τ Aᵀ[(S(Ax) − v) ⊙ S'(Ax)]``. The official step is
   ``λ·H·W·∇ mean((S(Ax) − v)²)`` = ``(2λ/C) Aᵀ[...]``, so ``τ = 2/C`` (2/3 for RGB) by default;
   ``‖A‖ ≤ 1`` (every output is a convex combination of inputs) keeps any ``τ < 2`` stable.
3. Every ``P = ceil(iterations / stages)`` iterations (at ``it + 1 ≡ 0 mod P``, and always at the last one), the
   relaxed denoising ``x ← (1 − α) x + α H_σ(x)`` with ``α = 0.9``; call ``j`` (1-based) uses ``σ_j`` of
   :func:`sigma_schedule`: ``stages`` values log-spaced from 49 to 7.65 (0–255 scale, i.e. DPIR's
   ``get_rho_sigma(iter_num=15, modelSigma1=49, modelSigma2=7.65)``), divided by ``ratio`` = 2 — so σ goes
   24.5 → 3.825 (/255), i.e. σ² is annealed exponentially. With 30 iterations and 15 stages the denoiser
   runs at iterations 2, 4, ..., 30.

``S`` is the official forward model's ``saturate_image`` (Whyte et al. 2011 soft clipping, on by default in that
code): with ``a = 50`` and ``v`` clamped to ≤ 1.5, ``S(v) = max(0, v − softplus(a (v − 1)) / a)``, so pixels near
and above 1 saturate smoothly; ``S' = 1 − sigmoid(a (v − 1))`` where ``S > 0`` and ``v < 1.5``, else 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from blurbench.ops.denoisers import Denoiser
from blurbench.ops.linear_operator import LinearOperator
from blurbench.ops.reblur import BlurField, pad_sizes

__all__ = ["denoiser_calls", "hsd_deblur", "reblur_objective", "saturate", "saturate_derivative", "sigma_schedule"]

_SAT_A = 50.0


def sigma_schedule(stages: int = 15, sigma_first: float = 49.0 / 255, sigma_last: float = 7.65 / 255,
                   ratio: float = 2.0) -> Tensor:
    """``stages`` noise levels log-spaced from ``sigma_first`` to ``sigma_last``, divided by ``ratio`` ([0, 1] units).

    Computed like DPIR's ``get_rho_sigma`` (``np.logspace`` of the 0–255 values in float32, then /255).
    """
    if stages < 1 or sigma_first <= 0 or sigma_last <= 0 or ratio <= 0:
        raise ValueError("need stages >= 1 and positive sigmas and ratio")
    s255 = np.logspace(np.log10(sigma_first * 255), np.log10(sigma_last * 255), stages).astype(np.float32)
    return torch.from_numpy(s255 / 255.0) / ratio


def denoiser_calls(iterations: int, stages: int) -> dict[int, int]:
    """``{iteration (0-based): stage index (0-based)}`` of the denoising steps (see the module docstring)."""
    period = math.ceil(iterations / stages)
    calls = {}
    for it in range(iterations):
        if (it > 0 and (it + 1) % period == 0) or it == iterations - 1:
            calls[it] = min((it + 1) // period, stages) - 1
    return calls


def saturate(v: Tensor) -> Tensor:
    """Soft saturation ``S(v) = max(0, min(v, 1.5) − softplus(50 (min(v, 1.5) − 1)) / 50)`` ([0, 1] units)."""
    vc = v.clamp_max(1.5)
    return (vc - F.softplus(_SAT_A * (vc - 1.0)) / _SAT_A).clamp_min(0.0)


def saturate_derivative(v: Tensor) -> Tensor:
    """``dS/dv``: ``1 − sigmoid(50 (v − 1))`` where ``S(v) > 0`` and ``v < 1.5``, else 0."""
    d = 1.0 - torch.sigmoid(_SAT_A * (v - 1.0))
    return torch.where((v < 1.5) & (saturate(v) > 0), d, torch.zeros_like(d))


def reblur_objective(sharp: Tensor, blurry: Tensor, op: LinearOperator, saturation: bool = False) -> Tensor:
    """Per-image data term ``‖S(A u) − v‖²`` (sum over pixels and channels), [N]; ``op`` is ``A``."""
    r = op.A(sharp)
    r = saturate(r) if saturation else r
    return (r - blurry).pow(2).flatten(1).sum(1)


def hsd_deblur(
    blurry: Tensor, field: BlurField, denoiser: Denoiser, iterations: int = 30, stages: int = 15,
    sigma_first: float = 49.0 / 255, sigma_last: float = 7.65 / 255, sigma_ratio: float = 2.0, alpha: float = 0.9,
    step: float | None = None, saturation: bool = True, clamp: bool = False,
    callback: Callable[[int, Tensor], None] | None = None,
) -> Tensor:
    """Hybrid steepest descent with a denoiser prior (see the module docstring for the exact iteration).

    Args:
        blurry: [N, C, H, W] in [0, 1].
        field: ``BlurField(kernels [N, B, K, K], mixing [N, B, H, W] (the blurry size), "valid")``: maps the
            unknown, the sharp image with a K − 1 border, to the blurry image.
        denoiser: ``denoiser(x, sigma)`` with x in [0, 1] units and sigma a float in [0, 1] units.
        iterations: gradient steps (official 30). stages: denoiser noise levels (official 15).
        sigma_first, sigma_last, sigma_ratio: the schedule of :func:`sigma_schedule`.
        alpha: relaxation of the denoising step. step: gradient step ``τ`` on ``Aᵀ r`` (default ``2 / C``).
        saturation: use the soft saturation ``S`` in the data term (official default).
        clamp: clamp iterates to [0, 1] after each gradient step (official ``use_clamp``, default off).
        callback: called as ``callback(it, x_padded)`` after each iteration (diagnostics, tests).

    Returns:
        [N, C, H, W] estimate (cropped from the padded unknown, not clamped).
    """
    if blurry.dim() != 4:
        raise ValueError(f"blurry must be [N, C, H, W], got shape {tuple(blurry.shape)}")
    if iterations < 1 or stages < 1 or not 0 <= alpha <= 1:
        raise ValueError("need iterations >= 1, stages >= 1 and 0 <= alpha <= 1")
    if field.padding != "valid":
        raise ValueError(f"hsd_deblur solves for the sharp image with a K - 1 border: pass a 'valid' BlurField, "
                         f"got padding {field.padding!r}")
    k = field.kernel_size
    before, after = pad_sizes(k)
    h, w = blurry.shape[-2:]
    if max(before, after) >= min(h, w):
        raise ValueError(f"image {h}x{w} too small for reflect padding of kernel size {k}")
    tau = 2.0 / blurry.shape[1] if step is None else step
    sigmas = sigma_schedule(stages, sigma_first, sigma_last, sigma_ratio)
    calls = denoiser_calls(iterations, stages)
    x = F.pad(blurry, (before, after, before, after), mode="reflect")
    for it in range(iterations):
        ax = field.A(x)
        r = (saturate(ax) - blurry) * saturate_derivative(ax) if saturation else ax - blurry
        x = x - tau * field.A_adjoint(r)
        if clamp:
            x = x.clamp(0, 1)
        if it in calls:
            x = (1 - alpha) * x + alpha * denoiser(x, float(sigmas[calls[it]]))
        if callback is not None:
            callback(it, x)
    return x[..., before:before + h, before:before + w]
