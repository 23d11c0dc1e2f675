"""Per-pixel motion kernels piecewise linear along the bidirectional flows (TPAMI 2017 eq. 3).

Model. Frame ``i`` is exposed during ``[i − τ/2, i + τ/2]`` (in frame intervals; ``τ`` = duty cycle =
exposure time / frame interval, in (0, 1]). The scene point that is at ``x`` at time ``i + t`` was at
``x − t·u_fw(x)`` (``t > 0``) or ``x − |t|·u_bw(x)`` (``t < 0``) at time ``i``, where ``u_fw = flow_{i→i+1}``
and ``u_bw = flow_{i→i−1}`` (see :mod:`blurbench.ops.gvd.operators` for the flow convention). Hence::

    (K L)(x) = 1/τ ∫_{−τ/2}^{τ/2} L(x − s(t))dt,  s(t) = t·u_fw(x) for t ≥ 0, |t|·u_bw(x) for t < 0,

a segment of length ``τ/2·|u_fw|`` towards ``−u_fw`` joined to one of ``τ/2·|u_bw|`` towards ``−u_bw``.
It is discretised with the midpoint rule on ``2n + 1`` equal sub-intervals: taps at
``t_j = j·τ/(2n+1)``, ``j = −n..n``, each weighted ``1/(2n+1)`` and sampled bilinearly (coordinates
clamped to the image). The kernel sums to one.

Relation to the MATLAB release (``mx_make_kernel_from_flows.cpp``): there the taps reach ``±τ_code·u``
with ``τ_code`` = 0.23–0.4, i.e. ``τ_code`` is half the duty cycle used here (``τ = 2·τ_code``).

Two implementations of the same operator: :func:`render_motion_blur` / :func:`render_motion_blur_adjoint`
sample tap by tap with ``grid_sample`` (reference, no set-up), :class:`MotionBlur` assembles one CSR matrix
per frame and its transpose (set-up once, then every product is a sparse matmul; used by the solver).
"""

from __future__ import annotations

import math
import warnings

import torch

from blurbench.ops.gvd.operators import pixel_grid, sample, sample_adjoint

__all__ = [
    "tap_times", "auto_half_taps", "render_motion_blur", "render_motion_blur_adjoint",
    "render_motion_blur_jacobian", "MotionBlur",
]


def _tau_vector(tau: float | torch.Tensor, n: int, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(tau, device=like.device, dtype=like.dtype)
    return t.expand(n).clone() if t.ndim == 0 else t.reshape(n)


def tap_times(tau: float | torch.Tensor, half_taps: int, frames: int, like: torch.Tensor) -> torch.Tensor:
    """Tap times ``t_j = j·τ/(2n+1)`` for ``j = 1..n``: [T, n] (the taps ``−j`` mirror them on u_bw)."""
    tau_v = _tau_vector(tau, frames, like)
    j = torch.arange(1, half_taps + 1, device=like.device, dtype=like.dtype)
    return tau_v[:, None] * j[None, :] / (2 * half_taps + 1)


def auto_half_taps(flow_fw: torch.Tensor, flow_bw: torch.Tensor, tau: float | torch.Tensor,
                   spacing: float = 1.0, max_half_taps: int = 35, min_half_taps: int = 1) -> int:
    """Smallest ``n`` whose taps are at most ``spacing`` px apart along the longest half-kernel, clipped."""
    tau_v = _tau_vector(tau, flow_fw.shape[0], flow_fw)
    mag = torch.maximum(flow_fw.norm(dim=1).amax(dim=(1, 2)), flow_bw.norm(dim=1).amax(dim=(1, 2)))
    longest = float((tau_v * mag).max()) if mag.numel() else 0.0
    n = math.ceil((longest / spacing - 1.0) / 2.0) if longest > 0 else 0
    return int(min(max(n, min_half_taps), max_half_taps))


def _tap_positions(flow_fw: torch.Tensor, flow_bw: torch.Tensor, tau: float | torch.Tensor, half_taps: int
                   ):
    """Yield ``(signed tap time [T], sampling positions [T, H, W, 2])`` for the ``2n + 1`` taps."""
    t, _, h, w = flow_fw.shape
    base = pixel_grid(h, w, flow_fw)[None]
    times = tap_times(tau, half_taps, t, flow_fw)
    ufw = flow_fw.permute(0, 2, 3, 1)
    ubw = flow_bw.permute(0, 2, 3, 1)
    yield times.new_zeros(t), base.expand(t, h, w, 2)
    for j in range(half_taps):
        tj = times[:, j, None, None, None]
        yield times[:, j], base - tj * ufw
        yield -times[:, j], base - tj * ubw


def render_motion_blur(x: torch.Tensor, flow_fw: torch.Tensor, flow_bw: torch.Tensor,
                       tau: float | torch.Tensor, half_taps: int) -> torch.Tensor:
    """``K x`` by sampling tap by tap: x [T, C, H, W], flows [T, 2, H, W] (px), tau scalar or [T]."""
    out = torch.zeros_like(x)
    for _, pos in _tap_positions(flow_fw, flow_bw, tau, half_taps):
        out += sample(x, pos)
    return out / (2 * half_taps + 1)


def render_motion_blur_adjoint(v: torch.Tensor, flow_fw: torch.Tensor, flow_bw: torch.Tensor,
                               tau: float | torch.Tensor, half_taps: int) -> torch.Tensor:
    """``Kᵀ v``, the exact adjoint of :func:`render_motion_blur` (scatter of the same bilinear weights)."""
    out = torch.zeros_like(v)
    size = tuple(v.shape[-2:])
    for _, pos in _tap_positions(flow_fw, flow_bw, tau, half_taps):
        out += sample_adjoint(v, pos, size)
    return out / (2 * half_taps + 1)


def render_motion_blur_jacobian(x: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor, flow_fw: torch.Tensor,
                                flow_bw: torch.Tensor, tau: float | torch.Tensor, half_taps: int, side: str
                                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``K x`` and its per-pixel derivatives w.r.t. the flow of one ``side`` (``"fw"`` or ``"bw"``).

    ``(K x)(p) = Σ_j w_j x(p − t_j u(p))`` gives ``∂(K x)(p)/∂u(p) = −Σ_{j on side} w_j |t_j| ∇x(p − t_j u)``;
    ``gx, gy`` are the image derivatives ``∂x x, ∂y x`` sampled at the same taps. Returns
    ``(K x, ∂(K x)/∂u_x, ∂(K x)/∂u_y)``, each shaped like ``x``.
    """
    c = x.shape[1]
    kx = torch.zeros_like(x)
    jx = torch.zeros_like(x)
    jy = torch.zeros_like(x)
    stack = torch.cat((x, gx, gy), dim=1)
    want_positive = side == "fw"
    for k, (t, pos) in enumerate(_tap_positions(flow_fw, flow_bw, tau, half_taps)):
        on_side = k > 0 and ((k % 2 == 1) == want_positive)
        if not on_side:
            kx += sample(x, pos)
            continue
        s = sample(stack, pos)
        kx += s[:, :c]
        coef = t.abs().view(-1, 1, 1, 1)
        jx -= coef * s[:, c:2 * c]
        jy -= coef * s[:, 2 * c:]
    inv = 1.0 / (2 * half_taps + 1)
    return kx * inv, jx * inv, jy * inv


def _bilinear_entries(pos: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Columns [..., 4] and weights [..., 4] of the bilinear interpolation at clamped ``pos`` [..., 2]."""
    px = pos[..., 0].clamp(0, w - 1)
    py = pos[..., 1].clamp(0, h - 1)
    x0 = px.floor().clamp(max=max(w - 2, 0))
    y0 = py.floor().clamp(max=max(h - 2, 0))
    fx = px - x0
    fy = py - y0
    x0i = x0.long()
    y0i = y0.long()
    x1i = (x0i + 1).clamp(max=w - 1)
    y1i = (y0i + 1).clamp(max=h - 1)
    cols = torch.stack((y0i * w + x0i, y0i * w + x1i, y1i * w + x0i, y1i * w + x1i), dim=-1)
    wts = torch.stack(((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy), dim=-1)
    return cols, wts


class MotionBlur:
    """The motion-blur operator ``K`` of a window as one sparse CSR matrix per frame (+ its transpose).

    Same operator as :func:`render_motion_blur` (to float precision), assembled once for given flows and
    duty cycle so that the many products of the latent solver are sparse matmuls. Memory:
    ``4·(2n+1)·H·W`` entries per frame per matrix (values + int32 columns).

    Args:
        flow_fw, flow_bw: [T, 2, H, W] flows to the next / previous frame, pixels.
        tau: duty cycle, scalar or [T].
        half_taps: ``n``; the kernel has ``2n + 1`` taps.
        adjoint: also assemble ``Kᵀ`` (needed by :meth:`adjoint`).
        moments: also assemble the two "moment" operators of :meth:`moment` (flow linearisation).
    """

    def __init__(self, flow_fw: torch.Tensor, flow_bw: torch.Tensor, tau: float | torch.Tensor,
                 half_taps: int, adjoint: bool = True, moments: bool = False) -> None:
        t, _, h, w = flow_fw.shape
        self.frames, self.h, self.w, self.half_taps = t, h, w, half_taps
        self.taps = 2 * half_taps + 1
        hw = h * w
        per_row = 4 * self.taps
        nnz = hw * per_row
        self._idx_dtype = torch.int32 if nnz < 2**31 - 1 else torch.int64
        self._fwd: list[torch.Tensor] = []
        self._adj: list[torch.Tensor] = []
        self._mom: list[tuple[torch.Tensor, torch.Tensor]] = []
        taps = list(_tap_positions(flow_fw, flow_bw, tau, half_taps))
        for f in range(t):
            cols = torch.empty(hw, self.taps, 4, device=flow_fw.device, dtype=self._idx_dtype)
            vals = torch.empty(hw, self.taps, 4, device=flow_fw.device, dtype=flow_fw.dtype)
            for k, (_, pos) in enumerate(taps):
                c, wt = _bilinear_entries(pos[f].reshape(hw, 2), h, w)
                cols[:, k] = c
                vals[:, k] = wt
            vals /= self.taps
            self._fwd.append(self._csr(cols.view(hw, per_row), vals.view(hw, per_row), hw))
            if moments:
                times = torch.stack([tp[0][f] for tp in taps]).abs()
                idx = torch.arange(self.taps, device=flow_fw.device)
                pair = []
                for mask in (idx % 2 == 1, (idx % 2 == 0) & (idx > 0)):
                    sub_vals = vals[:, mask] * (-times[mask])[None, :, None]
                    pair.append(self._csr(cols[:, mask].reshape(hw, -1), sub_vals.reshape(hw, -1), hw))
                self._mom.append((pair[0], pair[1]))
            if adjoint:
                self._adj.append(self._transpose(cols.view(-1), vals.view(-1), per_row, hw))
            del cols, vals

    def _csr(self, cols: torch.Tensor, vals: torch.Tensor, hw: int) -> torch.Tensor:
        """CSR matrix from a dense [rows, k] pattern (k entries per row; duplicates are summed)."""
        k = cols.shape[1]
        crow = torch.arange(0, hw * k + 1, k, device=cols.device, dtype=self._idx_dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.sparse_csr_tensor(crow, cols.reshape(-1), vals.reshape(-1), (hw, hw))

    def _transpose(self, cols: torch.Tensor, vals: torch.Tensor, per_row: int, hw: int) -> torch.Tensor:
        """CSR of the transpose: entries regrouped by column (an argsort of the column indices)."""
        order = torch.argsort(cols)
        rows_t = torch.div(order, per_row, rounding_mode="floor").to(self._idx_dtype)
        vals_t = vals[order]
        del order
        crow_t = torch.zeros(hw + 1, device=cols.device, dtype=torch.int64)
        crow_t[1:] = torch.cumsum(torch.bincount(cols, minlength=hw), 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.sparse_csr_tensor(crow_t.to(self._idx_dtype), rows_t, vals_t, (hw, hw))

    def _apply(self, mats: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        t, c, h, w = x.shape
        out = torch.empty_like(x)
        for f in range(t):
            xf = x[f].reshape(c, h * w).t().contiguous()
            out[f] = (mats[f] @ xf).t().reshape(c, h, w)
        return out

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``K x`` for x [T, C, H, W]."""
        return self._apply(self._fwd, x)

    def adjoint(self, v: torch.Tensor) -> torch.Tensor:
        """``Kᵀ v`` for v [T, C, H, W] (requires ``adjoint=True``)."""
        if not self._adj:
            raise RuntimeError("MotionBlur was built with adjoint=False")
        return self._apply(self._adj, v)

    def moment(self, x: torch.Tensor, side: str) -> torch.Tensor:
        """``Σ_{j on side} w_j·(−|t_j|)·x(p_j)`` — with ``x`` = ∇L this is ``∂(K L)/∂u_side`` per pixel.

        ``side`` is ``"fw"`` (taps along ``u_fw``) or ``"bw"``; requires ``moments=True``.
        """
        if not self._mom:
            raise RuntimeError("MotionBlur was built with moments=False")
        k = 0 if side == "fw" else 1
        return self._apply([m[k] for m in self._mom], x)
