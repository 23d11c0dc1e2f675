"""The GVD energy (TPAMI 2017 eqs. 4–7) and the operators it is built from.

For a window of ``T`` frames (latent ``L``, blurry ``B``, both [T, C, H, W] in [0, 1]), flows
``u_fw = flow_{i→i+1}``, ``u_bw = flow_{i→i−1}`` ([T, 2, H, W], px), defocus maps ``σ`` ([T, 1, H, W], px)
and duty cycle ``τ`` ([T])::

    E = λ Σ_i Σ_c κ_c ‖K_i G_i ∂_c L_i − ∂_c B_i‖²                         data (eq. 4), ∂_c ∈ {1, ∂x, ∂y},
                                                                              κ = (0.25, 1, 1)
      + μ Σ_i Σ_{0<|n|≤N} Σ_x m_{i,n}(x) |L_i(x) − L_{i+n}(x + u_{i→i+n}(x))|   temporal (eq. 5)
      + Σ_i ‖∇L_i‖_{2,1}                                                      spatial TV (eq. 6)
      + ν Σ_i Σ_{d∈{fw,bw}} Σ_x ‖(g_x ∂x u_d, g_y ∂y u_d)‖₂                 edge-weighted flow TV (eq. 6)
      + ν_σ Σ_i Σ_x ‖(g_x ∂x σ_i, g_y ∂y σ_i)‖₂                             edge-weighted σ TV (eq. 7)

with ``g = max(10⁻³, exp(−(∂L)²/(2 v_I)))`` computed from the current latent frame, ``u_{i→i±2}`` the
composed flows ``u_{i→i+1} + u_{i+1→i+2}(x + u_{i→i+1})`` and ``m`` the non-occlusion masks
(forward–backward check, :mod:`.occlusion`; all ones when occlusion handling is off). Colour latent
frames sum the data and temporal terms over channels and use one TV per channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from blurbench.ops.finite_differences import grad, grad_adjoint
from blurbench.ops.gvd.defocus import DefocusBlur, defocus_radius
from blurbench.ops.gvd.kernels import MotionBlur, SampledMotionBlur
from blurbench.ops.gvd.occlusion import compose_flows, occlusion_mask
from blurbench.ops.gvd.operators import warp, warp_adjoint
from blurbench.ops.linear_operator import LinearOperator

__all__ = [
    "DATA_WEIGHTS", "data_channels", "data_channels_adjoint", "BlurOperator", "TemporalLinks",
    "temporal_links", "data_residual", "data_energy", "frame_operators", "temporal_energy", "tv_energy",
    "weighted_tv_energy",
]

DATA_WEIGHTS = (0.25, 1.0, 1.0)
#: values per frame from which data terms and the latent data prox go frame by frame through ``op.frame(f)``
#: (bounded memory at 720p; small frames keep one batched call, less overhead)
FRAME_SPLIT_MIN = 1 << 16


def data_channels(x: torch.Tensor, weights: tuple[float, float, float] = DATA_WEIGHTS) -> torch.Tensor:
    """``D x = [√κ₀ x, √κ₁ ∂x x, √κ₂ ∂y x]`` stacked on channels: [T, C, H, W] -> [T, 3C, H, W]."""
    gx, gy = grad(x)
    return torch.cat((weights[0] ** 0.5 * x, weights[1] ** 0.5 * gx, weights[2] ** 0.5 * gy), dim=1)


def data_channels_adjoint(y: torch.Tensor, weights: tuple[float, float, float] = DATA_WEIGHTS) -> torch.Tensor:
    """Adjoint of :func:`data_channels`: [T, 3C, H, W] -> [T, C, H, W]."""
    y0, y1, y2 = y.chunk(3, dim=1)
    return weights[0] ** 0.5 * y0 + grad_adjoint(weights[1] ** 0.5 * y1, weights[2] ** 0.5 * y2)


class BlurOperator(LinearOperator):
    """``A = K G`` (motion blur after defocus) for a window, on x [T, C', H, W] (any number of channels); ``G`` is
    skipped when ``sigma`` is None or its support radius is 0.

    ``assembled=True`` builds the sparse :class:`~.kernels.MotionBlur` (fast repeated products, needed
    by the latent solver); otherwise ``K`` is :class:`~.kernels.SampledMotionBlur` (tap by tap, no set-up).
    """

    def __init__(self, flow_fw: torch.Tensor, flow_bw: torch.Tensor, tau: torch.Tensor, half_taps: int,
                 sigma: torch.Tensor | None = None, assembled: bool = True, adjoint: bool = True) -> None:
        self.flow_fw, self.flow_bw, self.tau, self.half_taps = flow_fw, flow_bw, tau, half_taps
        self.sigma = sigma
        self.radius = defocus_radius(float(sigma.max())) if sigma is not None else 0
        self.motion: LinearOperator = (MotionBlur(flow_fw, flow_bw, tau, half_taps, adjoint=adjoint) if assembled
                                       else SampledMotionBlur(flow_fw, flow_bw, tau, half_taps))
        self.defocus = DefocusBlur(sigma, self.radius) if self.radius else None
        self._op = self.motion if self.defocus is None else self.motion @ self.defocus

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """``K G x``."""
        return self._op.A(x)

    def A_adjoint(self, v: torch.Tensor) -> torch.Tensor:
        """``Gᵀ Kᵀ v``."""
        return self._op.A_adjoint(v)

    def frame(self, f: int) -> LinearOperator | None:
        """``K G`` of frame ``f`` alone (inputs [1, C', H, W])."""
        return self._op.frame(f)


@dataclass
class TemporalLinks:
    """The temporal pairs of eq. 5 for one window, grouped by signed frame offset ``n``.

    For each ``n``: ``src`` / ``dst`` frame indices [P] (``dst = src + n``), the composed flow
    ``flow_{src→dst}`` [P, 2, H, W] and the weight mask [P, 1, H, W] (1 = visible in both frames).
    ``src`` is the contiguous range of frames that have a frame ``n`` away (:meth:`rows` gives both as slices).
    """

    offsets: list[int]
    src: dict[int, torch.Tensor]
    dst: dict[int, torch.Tensor]
    flow: dict[int, torch.Tensor]
    mask: dict[int, torch.Tensor]

    def rows(self, n: int) -> tuple[slice, slice]:
        """``src`` and ``dst`` of offset ``n`` as slices of the window's frames: views of a [T, ...] tensor, where
        indexing by ``src`` would copy (a 720p colour window: ~45 MB per copy)."""
        p, s0 = self.src[n].numel(), max(0, -n)
        return slice(s0, s0 + p), slice(s0 + n, s0 + n + p)

    def residual(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """``(T x)_n = x[src] − warp(x[dst], flow_n)`` for the offset ``n``."""
        src, dst = self.rows(n)
        return x[src] - warp(x[dst], self.flow[n])

    def apply(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """``(T x)_n`` for every offset."""
        return {n: self.residual(x, n) for n in self.offsets}

    def adjoint(self, q: dict[int, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        """``Σ_n T_nᵀ q_n`` accumulated on a [T, C, H, W] tensor."""
        out = torch.zeros_like(like)
        for n in self.offsets:
            src, dst = self.rows(n)
            out[src] += q[n]
            out[dst] -= warp_adjoint(q[n], self.flow[n])
        return out

    def count(self) -> int:
        """Number of frame pairs."""
        return sum(int(self.src[n].numel()) for n in self.offsets)


def temporal_links(flow_fw: torch.Tensor, flow_bw: torch.Tensor, neighbours: int, occlusion: bool = True,
                   masks: dict[int, torch.Tensor] | None = None) -> TemporalLinks:
    """Links ``i → i+n`` for ``0 < |n| ≤ neighbours`` inside the window, with composed flows and masks.

    The mask is the forward–backward consistency of ``flow_{i→i+n}`` against ``flow_{i+n→i}`` (both
    composed) and the target lying inside the frame; with ``occlusion=False`` only the latter. Given
    ``masks`` (e.g. those of an earlier call) are reused instead, which keeps an energy comparable while
    the flows move.
    """
    t = flow_fw.shape[0]
    offsets, src, dst, flows, new_masks = [], {}, {}, {}, {}
    for n in [k for k in range(1, neighbours + 1)] + [-k for k in range(1, neighbours + 1)]:
        idx = torch.arange(max(0, -n), min(t, t - n), device=flow_fw.device)
        if idx.numel() == 0:
            continue
        f_ab = compose_flows(flow_fw, flow_bw, idx, n)
        offsets.append(n)
        src[n], dst[n], flows[n] = idx, idx + n, f_ab
        if masks is not None:
            new_masks[n] = masks[n]
        else:
            f_ba = compose_flows(flow_fw, flow_bw, idx + n, -n)
            new_masks[n] = occlusion_mask(f_ab, f_ba, check=occlusion).to(flow_fw.dtype)
    return TemporalLinks(offsets, src, dst, flows, new_masks)


def data_residual(latent: torch.Tensor, blurry: torch.Tensor, op: LinearOperator,
                  weights: tuple[float, float, float] = DATA_WEIGHTS) -> torch.Tensor:
    """``A D L − D B`` [T, 3C, H, W]."""
    return op.A(data_channels(latent, weights)) - data_channels(blurry, weights)


def frame_operators(x: torch.Tensor, op: LinearOperator) -> list[LinearOperator] | None:
    """``op.frame(f)`` for every frame of ``x`` when data terms go frame by frame (several frames of at least
    :data:`FRAME_SPLIT_MIN` values, an operator that splits); None: one batched call."""
    if x.shape[0] < 2 or x[0].numel() < FRAME_SPLIT_MIN or op.frame(0) is None:
        return None
    return [op.frame(f) for f in range(x.shape[0])]


def data_energy(latent: torch.Tensor, blurry: torch.Tensor, op: LinearOperator, lam: float,
                weights: tuple[float, float, float] = DATA_WEIGHTS) -> torch.Tensor:
    """``λ Σ κ_c ‖K G ∂_c L − ∂_c B‖²`` per frame, [T] (frame by frame when ``op`` splits: bounded memory)."""
    ops = frame_operators(latent, op)
    if ops is None:
        return lam * data_residual(latent, blurry, op, weights).square().sum(dim=(1, 2, 3))
    return lam * torch.cat([data_residual(latent[f:f + 1], blurry[f:f + 1], o, weights).square().sum(
        dim=(1, 2, 3)) for f, o in enumerate(ops)])


def temporal_energy(latent: torch.Tensor, links: TemporalLinks, mu: float) -> torch.Tensor:
    """``μ Σ m |L_i − L_{i+n}(x + u)|`` per source frame, [T]."""
    out = latent.new_zeros(latent.shape[0])
    for n in links.offsets:  # one residual alive at a time (all four: ~150 MB for a 720p colour window)
        r = links.residual(latent, n).abs_().mul_(links.mask[n])
        out[links.rows(n)[0]] += r.sum(dim=(1, 2, 3))
    return mu * out


def tv_energy(x: torch.Tensor) -> torch.Tensor:
    """Isotropic TV per channel, summed: [T]."""
    gx, gy = grad(x)
    return torch.sqrt(gx.square() + gy.square()).sum(dim=(1, 2, 3))


def weighted_tv_energy(field: torch.Tensor, wx: torch.Tensor, wy: torch.Tensor) -> torch.Tensor:
    """``Σ_x ‖(g_x ∂x f_k, g_y ∂y f_k)_k‖₂`` — joint over the components of ``field`` [T, K, H, W]: [T]."""
    gx, gy = grad(field)
    return torch.sqrt((wx * gx).square().sum(1) + (wy * gy).square().sum(1)).sum(dim=(1, 2))
