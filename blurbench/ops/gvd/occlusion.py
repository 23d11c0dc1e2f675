"""Flow composition, occlusion detection and the occlusion-aware spatio-temporal filter (TPAMI eqs. 18–19).

Flows follow :mod:`blurbench.ops.gvd.operators`: ``flow_{a→b}`` [P, 2, H, W] in pixels, frame ``a``'s grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from blurbench.ops.gvd.operators import pixel_grid, warp

__all__ = ["compose_flows", "occlusion_mask", "spatiotemporal_filter"]


def compose_flows(flow_fw: torch.Tensor, flow_bw: torch.Tensor, idx: torch.Tensor, n: int) -> torch.Tensor:
    """``flow_{i→i+n}`` for the frames ``idx`` by chaining one-frame flows.

    ``u_{i→i+2}(x) = u_{i→i+1}(x) + u_{i+1→i+2}(x + u_{i→i+1}(x))`` (bilinear, clamped); ``n < 0`` chains
    the backward flows. Every ``i + k`` (``0 < |k| < |n|``) must be a frame of the window.
    """
    flows, step = (flow_fw, 1) if n > 0 else (flow_bw, -1)
    out = flows[idx]
    for k in range(1, abs(n)):
        out = out + warp(flows[idx + step * k], out)
    return out


def occlusion_mask(flow_ab: torch.Tensor, flow_ba: torch.Tensor, check: bool = True, alpha: float = 0.01,
                   beta: float = 0.5) -> torch.Tensor:
    """Visibility mask [P, 1, H, W] (True = usable) of the pixels of frame ``a`` in frame ``b``.

    A pixel is occluded when the forward–backward check fails,
    ``|u_ab + u_ba(x + u_ab)|² > α(|u_ab|² + |u_ba(x + u_ab)|²) + β`` (Sundaram et al. 2010; the MATLAB
    release tests that the rounded round trip returns to the same pixel), or when ``x + u_ab`` leaves the
    frame. ``check=False`` keeps only the in-frame test.
    """
    h, w = flow_ab.shape[-2:]
    target = pixel_grid(h, w, flow_ab).permute(2, 0, 1)[None] + flow_ab
    inside = ((target[:, 0] >= 0) & (target[:, 0] <= w - 1) & (target[:, 1] >= 0) & (target[:, 1] <= h - 1))
    inside = inside[:, None]
    if not check:
        return inside
    back = warp(flow_ba, flow_ab)
    err = (flow_ab + back).square().sum(1, keepdim=True)
    bound = alpha * (flow_ab.square().sum(1, keepdim=True) + back.square().sum(1, keepdim=True)) + beta
    return inside & (err <= bound)


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x(p + (dx, dy))`` with replicated borders."""
    if dy == 0 and dx == 0:
        return x
    r = max(abs(dy), abs(dx))
    h, w = x.shape[-2:]
    xp = F.pad(x, (r, r, r, r), mode="replicate")
    return xp[..., r + dy:r + dy + h, r + dx:r + dx + w]


def spatiotemporal_filter(latent: torch.Tensor, links, patch: int = 5, window: int = 1, h: float = 10 / 255,
                          temporal_weight: float = 1.0) -> torch.Tensor:
    """Occlusion-aware non-local spatio-temporal filter (eqs. 18–19).

    ``L_i(x) ← Σ_{n, d} W·L_{i+n}(x + u_{i→i+n}(x) + d) / Σ W`` over the frame itself (``n = 0``) and its
    temporal links (``links``: :class:`~.energy.TemporalLinks`), offsets ``d`` in a
    ``(2·window+1)²`` search window, with ``W = m_{i,n}(x)·ω_n·exp(−‖P_i(x) − P_{i+n}(x + u + d)‖² / h²)``
    where ``‖·‖²`` is the mean squared difference over ``patch×patch`` patches (and channels), ``m`` the
    visibility mask of the link (occluded pixels take no temporal sample) and ``ω_0 = 1``,
    ``ω_{n≠0} = temporal_weight``. ``latent`` [T, C, H, W] in [0, 1].
    """
    pad = patch // 2
    num = torch.zeros_like(latent)
    den = latent.new_zeros(latent.shape[0], 1, *latent.shape[-2:])
    idx_all = torch.arange(latent.shape[0], device=latent.device)
    candidates = [(idx_all, latent, None, 1.0)]
    if links is not None:
        for n in links.offsets:
            aligned = warp(latent[links.dst[n]], links.flow[n])
            candidates.append((links.src[n], aligned, links.mask[n], temporal_weight))
    for idx, aligned, mask, omega in candidates:
        ref = latent[idx]
        for dy in range(-window, window + 1):
            for dx in range(-window, window + 1):
                cand = _shift(aligned, dy, dx)
                dist = (ref - cand).square().mean(dim=1, keepdim=True)
                if pad:
                    dist = F.avg_pool2d(dist, patch, stride=1, padding=pad, count_include_pad=False)
                wgt = omega * torch.exp(-dist / (h * h))
                if mask is not None:
                    wgt = wgt * mask
                num.index_add_(0, idx, wgt * cand)
                den.index_add_(0, idx, wgt)
    return num / den.clamp_min(1e-12)
