"""The Gaussian filter: sampled, normalised taps and a separable 2-D filter (per channel).

``gaussian_taps(sigma, radius)`` are ``exp(-r² / 2σ²)`` for ``r = -radius..radius``, divided by their sum (the
convention of scikit-image's SSIM window and of MATLAB's ``imgaussfilt``, whose default radius is ``ceil(2σ)``;
here the default is ``ceil(3σ)``). :func:`gaussian_filter2d` filters [N, C, H, W] along W then H, each channel
alone, with 'replicate' padding (same size out) or 'valid' (only where the window fits: H − 2·radius rows).
The SSIM conventions (``blurbench.metrics``), the built-in video synthesis and MATLAB's 3-D SSIM share these taps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["gaussian_filter2d", "gaussian_taps"]


def gaussian_taps(sigma: float, radius: int | None = None, *, dtype: torch.dtype = torch.float32,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """Normalised Gaussian taps [2·radius + 1] (radius default ``ceil(3σ)``, at least 1)."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    r = max(1, math.ceil(3 * sigma)) if radius is None else int(radius)
    g = torch.exp(-torch.arange(-r, r + 1, dtype=dtype, device=device).square() / (2 * sigma * sigma))
    return g / g.sum()


def gaussian_filter2d(x: torch.Tensor, sigma: float, radius: int | None = None, padding: str = "replicate"
                      ) -> torch.Tensor:
    """Separable Gaussian filter of ``x`` [N, C, H, W] per channel ('replicate' or 'valid' padding, module doc)."""
    if padding not in ("replicate", "valid"):
        raise ValueError(f"padding must be 'replicate' or 'valid', got {padding!r}")
    g = gaussian_taps(sigma, radius, dtype=x.dtype, device=x.device)
    r, c = g.numel() // 2, x.shape[1]
    if padding == "replicate":
        x = F.pad(x, (r, r, 0, 0), mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    if padding == "replicate":
        x = F.pad(x, (0, 0, r, r), mode="replicate")
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
