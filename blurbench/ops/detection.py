"""Blur detection from a blur field (Carbajal et al. 2021, §5.3) and a classical no-field baseline.

From a field (kernels ``k_b`` [N, B, K, K], mixing maps ``m_b`` [N, B, H, W], ``Σ_b m_b = 1``): a basis kernel
with ``‖k_b‖₂ ≤ threshold`` (default 0.25) is *blurry* — a delta has norm 1 and a kernel spread evenly over
``n`` taps has norm ``1/√n``, so 0.25 means "spread over about 16 taps or more". The per-pixel blur score is
the mass of the blurry kernels, ``score = Σ_{b blurry} m_b`` ∈ [0, 1] (the authors' ``detect_blur.py``
``blur_mask``), and the binary blur mask is ``score ≥ mask_threshold`` (default 0.5: the blurry kernels hold the
majority of the pixel). Masks and scores are [N, 1, H, W]; 1 = blurred.

That score takes few distinct values (one per subset of the B kernels), a poor ranking for average precision.
:func:`pixel_blur_score` ranks every pixel by the norm of its own kernel ``k_x = Σ_b m_b(x) k_b``:
``score = 1 - ‖k_x‖₂`` (0 for a delta, near 1 for a widely spread kernel); its mask ``‖k_x‖₂ ≤ threshold`` is
``score ≥ 1 - threshold``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from blurbench.ops.field_loss import field_sq_norm
from blurbench.ops.reblur import BlurField

__all__ = ["blur_mask", "blur_score", "blurry_kernels", "laplacian_blur_score", "pixel_blur_score"]

DEFAULT_NORM_THRESHOLD = 0.25


def blurry_kernels(kernels: Tensor, threshold: float = DEFAULT_NORM_THRESHOLD) -> Tensor:
    """[N, B] bool: ``‖k_b‖₂ ≤ threshold`` (a strict ``>`` is sharp, as in the official script)."""
    if kernels.dim() != 4:
        raise ValueError(f"kernels must be [N, B, K, K], got shape {tuple(kernels.shape)}")
    return kernels.flatten(2).norm(dim=2) <= threshold


def blur_score(kernels: Tensor, mixing: Tensor, threshold: float = DEFAULT_NORM_THRESHOLD) -> Tensor:
    """Per-pixel blur score ``Σ_{b: ‖k_b‖₂ ≤ threshold} m_b``, [N, 1, H, W], clamped to [0, 1]."""
    if mixing.dim() != 4 or mixing.shape[:2] != kernels.shape[:2]:
        raise ValueError(f"mixing must be [N, B, H, W] matching kernels {tuple(kernels.shape)}, "
                         f"got {tuple(mixing.shape)}")
    sel = blurry_kernels(kernels, threshold).to(mixing.dtype)[:, :, None, None]
    return (mixing * sel).sum(1, keepdim=True).clamp(0, 1)


def pixel_blur_score(kernels: Tensor, mixing: Tensor) -> Tensor:
    """Per-pixel blur score ``1 - ‖k_x‖₂`` with ``k_x = Σ_b m_b(x) k_b``, [N, 1, H, W] in [0, 1]."""
    norm = field_sq_norm(BlurField(kernels, mixing)).clamp_min(0).sqrt()
    return (1 - norm).clamp(0, 1)[:, None]


def blur_mask(kernels: Tensor, mixing: Tensor, threshold: float = DEFAULT_NORM_THRESHOLD,
              mask_threshold: float = 0.5) -> Tensor:
    """Binary blur mask ``blur_score ≥ mask_threshold``, [N, 1, H, W] bool."""
    return blur_score(kernels, mixing, threshold) >= mask_threshold


def laplacian_blur_score(image: Tensor, window: int = 9, energy_scale: float = 5e-4) -> Tensor:
    """No-field baseline: low local Laplacian energy = blurred.

    ``E = box_window(ΔY²)`` with ``Y`` the mean of the RGB channels, ``Δ`` the 3×3 Laplacian (reflect
    padding), ``box_window`` a ``window``×``window`` mean; ``score = 1 / (1 + E / energy_scale)`` ∈ (0, 1].
    Flat regions score as blurred (a known limit of local-energy measures). [N, 3, H, W] in [0, 1] → [N, 1, H, W].
    """
    y = image.mean(1, keepdim=True)
    lap = y.new_tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    d = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="reflect"), lap)
    r = window // 2
    energy = F.avg_pool2d(F.pad(d.pow(2), (r, r, r, r), mode="reflect"), window, stride=1)
    return 1.0 / (1.0 + energy / energy_scale)

