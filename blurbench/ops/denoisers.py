"""Denoisers ``H_σ`` for plug-and-play solvers: callables ``denoiser(x, sigma) -> x̂``.

Convention for every denoiser here: ``x`` [N, C, H, W] float, an RGB (or gray) image in [0, 1] units — values a
little outside [0, 1] are allowed, since solver iterates overshoot —, ``sigma`` the noise standard deviation in the
same units (e.g. 7.65/255), a float or a [N] tensor. The output has the shape and dtype of ``x``.
:class:`blurbench.zoo.drunet.DRUNet` follows the same convention, so it plugs in unchanged.

The classical ones need no weights, so solvers run out of the box:

- :func:`tv_denoise` / :class:`TVDenoiser`: the proximal map of total variation (ROF), Chambolle's 2004
  dual projection algorithm, with the finite differences of :mod:`blurbench.ops.deconvolution`.
- :func:`bilateral_denoise` / :class:`BilateralDenoiser`: OpenCV's bilateral filter (float32, per image).
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np
import torch
from torch import Tensor

from blurbench.ops.finite_differences import div, grad

__all__ = ["BilateralDenoiser", "Denoiser", "TVDenoiser", "bilateral_denoise", "tv_denoise"]


class Denoiser(Protocol):
    def __call__(self, x: Tensor, sigma: float | Tensor) -> Tensor: ...


def _per_image(sigma: float | Tensor, n: int) -> list[float]:
    s = torch.as_tensor(sigma, dtype=torch.float64).flatten()
    if s.numel() not in (1, n):
        raise ValueError(f"sigma must be a float or have one value per image ({n}), got {s.numel()} values")
    return [float(v) for v in s.expand(n)]


# ------------------------------------------------------------------------------------------------ TV
def tv_denoise(x: Tensor, weight: float | Tensor, iterations: int = 20, tau: float = 0.25,
               vectorial: bool = True) -> Tensor:
    """``argmin_u ½‖u − x‖² + weight·TV(u)`` (ROF) by Chambolle's projection algorithm (JMIV 2004).

    Dual iteration, with ``∇`` forward differences (Neumann boundary) and ``div = −∇ᵀ``::

        g = ∇(div p − x / weight);  p ← (p + τ g) / (1 + τ |g|);  u = x − weight · div p

    started from ``p = 0`` (so 0 iterations return ``x``). ``τ = 0.25`` is scikit-image's choice (the proof
    needs τ ≤ 1/8; 1/4 converges in practice and twice as fast). ``vectorial``: colour TV, ``|g|`` is the norm
    over directions and channels (one edge set for all channels); otherwise each channel separately (as
    ``skimage.restoration.denoise_tv_chambolle`` with ``channel_axis``).

    Args:
        x: [N, C, H, W]. weight: ``λ`` > 0, a float or [N] (one per image), in image units.
        iterations: dual iterations. tau: dual step.
    """
    if iterations <= 0:
        return x.clone()
    lam = torch.as_tensor(weight, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
    if bool((lam <= 0).any()):
        raise ValueError("weight must be positive")
    xs = x / lam
    px, py = torch.zeros_like(x), torch.zeros_like(x)
    for _ in range(iterations):
        gx, gy = grad(div(px, py) - xs)
        mag = gx.pow(2) + gy.pow(2)
        denom = 1 + tau * (mag.sum(1, keepdim=True) if vectorial else mag).sqrt()  # one edge set, or per channel
        px, py = (px + tau * gx) / denom, (py + tau * gy) / denom
    return x - lam * div(px, py)


class TVDenoiser:
    """TV proximal step as ``H_σ``: ``tv_denoise(x, weight=scale·σ)``.

    ROF's data term is quadratic and TV is 1-homogeneous, so the weight has image units and grows linearly with
    the noise level; ``scale`` = 1 is close to the best PSNR for Gaussian noise on natural images.
    """

    def __init__(self, scale: float = 1.0, iterations: int = 20, vectorial: bool = True) -> None:
        if scale <= 0 or iterations < 0:
            raise ValueError(f"need scale > 0 and iterations >= 0, got {scale}, {iterations}")
        self.scale, self.iterations, self.vectorial = scale, iterations, vectorial

    def __call__(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        w = torch.tensor(_per_image(sigma, x.shape[0]), dtype=x.dtype, device=x.device) * self.scale
        return tv_denoise(x, w, self.iterations, vectorial=self.vectorial)

    def __repr__(self) -> str:
        return f"TVDenoiser(scale={self.scale}, iterations={self.iterations}, vectorial={self.vectorial})"


# ----------------------------------------------------------------------------------------- bilateral
def bilateral_denoise(x: Tensor, sigma_color: float | Tensor, sigma_space: float = 2.0, diameter: int = 5) -> Tensor:
    """OpenCV bilateral filter of each image (float32, all channels share the range weight).

    ``sigma_color`` in image units (a float or [N]); ``sigma_space`` in pixels; ``diameter`` the window
    (OpenCV replicates the border: ``BORDER_DEFAULT`` = reflect-101).
    """
    n, c = x.shape[:2]
    if c not in (1, 3):
        raise ValueError(f"bilateral_denoise handles 1 or 3 channels, got {c}")
    out = []
    for i, sc in enumerate(_per_image(sigma_color, n)):
        arr = np.ascontiguousarray(x[i].detach().float().cpu().numpy().transpose(1, 2, 0))
        res = cv2.bilateralFilter(arr, diameter, max(sc, 1e-6), sigma_space)
        res = res[:, :, None] if res.ndim == 2 else res
        out.append(torch.from_numpy(np.ascontiguousarray(res.transpose(2, 0, 1))))
    return torch.stack(out).to(device=x.device, dtype=x.dtype)


class BilateralDenoiser:
    """Bilateral filter as ``H_σ``: range sigma ``color_scale·σ`` (1: best of {1, 2} in HSD on builtin/motion*)."""

    def __init__(self, color_scale: float = 1.0, sigma_space: float = 2.0, diameter: int = 5) -> None:
        if color_scale <= 0 or sigma_space <= 0 or diameter < 1:
            raise ValueError("need color_scale > 0, sigma_space > 0, diameter >= 1")
        self.color_scale, self.sigma_space, self.diameter = color_scale, sigma_space, diameter

    def __call__(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        sc = [s * self.color_scale for s in _per_image(sigma, x.shape[0])]
        return bilateral_denoise(x, torch.tensor(sc), self.sigma_space, self.diameter)

    def __repr__(self) -> str:
        return (f"BilateralDenoiser(color_scale={self.color_scale}, sigma_space={self.sigma_space}, "
                f"diameter={self.diameter})")
