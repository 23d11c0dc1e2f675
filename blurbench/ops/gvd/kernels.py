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

Two implementations of the same operator, both :class:`~blurbench.ops.linear_operator.LinearOperator`:
:class:`SampledMotionBlur` (:func:`render_motion_blur` / :func:`render_motion_blur_adjoint`) samples tap by tap
with ``grid_sample`` (reference, no set-up), :class:`MotionBlur` assembles one CSR matrix per frame in row chunks
(set-up once, then every product is a sparse matmul, the adjoint a CSC product on the same arrays; used by the
solver).
"""

from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor

import torch

from blurbench.ops.gvd.operators import (
    grid_scale,
    one_image_at_a_time,
    pixel_grid,
    sample_grid,
    sample_grid_adjoint,
)
from blurbench.ops.linear_operator import LinearOperator
from blurbench.procmem import release_free_heap

__all__ = [
    "tap_times", "auto_half_taps", "render_motion_blur", "render_motion_blur_side", "render_motion_blur_adjoint",
    "render_motion_blur_jacobian", "MotionBlur", "SampledMotionBlur",
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


def _tap_basis(tau: float | torch.Tensor, half_taps: int, *flows: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """What every tap's grid is made of: the pixel grid [1, H, W, 2] and the ``flows`` [T, H, W, 2] in
    ``grid_sample``'s ``align_corners=True`` units, and the negated tap times [T, n]; tap ``j`` along a flow ``u``
    samples at ``base + neg[:, j]·u``."""
    t, _, h, w = flows[0].shape
    scale = grid_scale(h, w, flows[0])
    base = (pixel_grid(h, w, flows[0]) * scale - 1.0)[None]
    neg = -tap_times(tau, half_taps, t, flows[0])
    return base, neg, [(f.permute(0, 2, 3, 1) * scale).contiguous() for f in flows]


def _tap_grids(flow_fw: torch.Tensor, flow_bw: torch.Tensor, tau: float | torch.Tensor, half_taps: int):
    """Yield ``(signed tap time [T], sampling grid [T, H, W, 2])`` for the ``2n + 1`` taps: the centre, then
    ``+t_j`` along ``u_fw`` and ``−t_j`` along ``u_bw`` for ``j = 1..n``, positions ``x − |t_j|·u``.

    Grids are in ``grid_sample``'s ``align_corners=True`` coordinates: the pixel grid and the flows are
    normalised once, so a tap costs one fused multiply-add instead of four passes before its ``grid_sample``.
    """
    t, _, h, w = flow_fw.shape
    base, neg, (nfw, nbw) = _tap_basis(tau, half_taps, flow_fw, flow_bw)
    times = -neg
    yield times.new_zeros(t), base.expand(t, h, w, 2)
    for j in range(half_taps):
        tj = neg[:, j, None, None, None]
        yield times[:, j], torch.addcmul(base, tj, nfw)
        yield -times[:, j], torch.addcmul(base, tj, nbw)


def _frame_by_frame(fn, x: torch.Tensor, flow_fw: torch.Tensor, flow_bw: torch.Tensor, tau: float | torch.Tensor,
                    half_taps: int) -> torch.Tensor:
    """``fn`` (a batched renderer) applied to one frame at a time, written into one output
    (:func:`~.operators.one_image_at_a_time`: the frame's data stays in cache across its taps)."""
    out = torch.empty_like(x)
    for f, tau_f in enumerate(_tau_vector(tau, x.shape[0], x).split(1)):
        out[f:f + 1] = fn(x[f:f + 1], flow_fw[f:f + 1], flow_bw[f:f + 1], tau_f, half_taps)
    return out


def render_motion_blur(x: torch.Tensor, flow_fw: torch.Tensor, flow_bw: torch.Tensor,
                       tau: float | torch.Tensor, half_taps: int) -> torch.Tensor:
    """``K x`` by sampling tap by tap: x [T, C, H, W], flows [T, 2, H, W] (px), tau scalar or [T]."""
    if one_image_at_a_time(x):
        return _frame_by_frame(render_motion_blur, x, flow_fw, flow_bw, tau, half_taps)
    out = torch.zeros_like(x)
    for _, grid in _tap_grids(flow_fw, flow_bw, tau, half_taps):
        out += sample_grid(x, grid)
    return out / (2 * half_taps + 1)


def render_motion_blur_side(x: torch.Tensor, flow: torch.Tensor, tau: float | torch.Tensor, half_taps: int,
                            side: str) -> torch.Tensor:
    """One side's taps of ``K x``, summed and not normalised: ``"fw"`` the centre and the taps along ``flow`` = u_fw,
    ``"bw"`` the taps along ``flow`` = u_bw; ``K x = (fw + bw) / (2n + 1)``.

    A solver that changes the flows of one side only re-renders that side (the flow step's line search).
    """
    if one_image_at_a_time(x):
        out = torch.empty_like(x)
        for f, tau_f in enumerate(_tau_vector(tau, x.shape[0], x).split(1)):
            out[f:f + 1] = render_motion_blur_side(x[f:f + 1], flow[f:f + 1], tau_f, half_taps, side)
        return out
    t, _, h, w = flow.shape
    base, neg, (nflow,) = _tap_basis(tau, half_taps, flow)
    out = sample_grid(x, base.expand(t, h, w, 2)) if side == "fw" else torch.zeros_like(x)
    for j in range(half_taps):  # the positions of _tap_grids
        out += sample_grid(x, torch.addcmul(base, neg[:, j, None, None, None], nflow))
    return out


def render_motion_blur_adjoint(v: torch.Tensor, flow_fw: torch.Tensor, flow_bw: torch.Tensor,
                               tau: float | torch.Tensor, half_taps: int) -> torch.Tensor:
    """``Kᵀ v``, the exact adjoint of :func:`render_motion_blur` (scatter of the same bilinear weights)."""
    if one_image_at_a_time(v):
        return _frame_by_frame(render_motion_blur_adjoint, v, flow_fw, flow_bw, tau, half_taps)
    out = torch.zeros_like(v)
    size = tuple(v.shape[-2:])
    for _, grid in _tap_grids(flow_fw, flow_bw, tau, half_taps):
        out += sample_grid_adjoint(v, grid, size)
    return out / (2 * half_taps + 1)


def render_motion_blur_jacobian(x: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor, flow_fw: torch.Tensor,
                                flow_bw: torch.Tensor, tau: float | torch.Tensor, half_taps: int, side: str,
                                kx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``K x`` and its per-pixel derivatives w.r.t. the flow of one ``side`` (``"fw"`` or ``"bw"``).

    ``(K x)(p) = Σ_j w_j x(p − t_j u(p))`` gives ``∂(K x)(p)/∂u(p) = −Σ_{j on side} w_j |t_j| ∇x(p − t_j u)``;
    ``gx, gy`` are the image derivatives ``∂x x, ∂y x`` sampled at the same taps. Returns
    ``(K x, ∂(K x)/∂u_x, ∂(K x)/∂u_y)``, each shaped like ``x``. A given ``kx`` (``K x`` for these flows, e.g.
    rendered for an energy) is returned as is and only the derivatives are rendered (half the taps).
    """
    if one_image_at_a_time(x):
        outs = [render_motion_blur_jacobian(x[f:f + 1], gx[f:f + 1], gy[f:f + 1], flow_fw[f:f + 1], flow_bw[f:f + 1],
                                            tau_f, half_taps, side, None if kx is None else kx[f:f + 1])
                for f, tau_f in enumerate(_tau_vector(tau, x.shape[0], x).split(1))]
        return tuple(torch.cat(parts) for parts in zip(*outs))
    c = x.shape[1]
    want_positive = side == "fw"
    jx = torch.zeros_like(x)
    jy = torch.zeros_like(x)
    if kx is None:
        acc = torch.zeros_like(x)
        stack = torch.cat((x, gx, gy), dim=1)
    else:
        stack = torch.cat((gx, gy), dim=1)
    off = 0 if kx is not None else c  # where the derivatives start in the sampled stack
    for k, (t, grid) in enumerate(_tap_grids(flow_fw, flow_bw, tau, half_taps)):
        on_side = k > 0 and ((k % 2 == 1) == want_positive)
        if not on_side:
            if kx is None:
                acc += sample_grid(x, grid)
            continue
        s = sample_grid(stack, grid)
        if kx is None:
            acc += s[:, :c]
        coef = t.abs().view(-1, 1, 1, 1)
        jx.sub_(coef * s[:, off:off + c])
        jy.sub_(coef * s[:, off + c:])
    inv = 1.0 / (2 * half_taps + 1)
    return (acc * inv if kx is None else kx), jx * inv, jy * inv


class SampledMotionBlur(LinearOperator):
    """``K`` of a window applied tap by tap (:func:`render_motion_blur`, adjoint :func:`render_motion_blur_adjoint`):
    no set-up, so the cheaper choice for a few products. Flows [T, 2, H, W] (px), ``tau`` scalar or [T]."""

    def __init__(self, flow_fw: torch.Tensor, flow_bw: torch.Tensor, tau: float | torch.Tensor, half_taps: int
                 ) -> None:
        self.flow_fw, self.flow_bw, self.tau, self.half_taps = flow_fw, flow_bw, tau, half_taps

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return render_motion_blur(x, self.flow_fw, self.flow_bw, self.tau, self.half_taps)

    def A_adjoint(self, v: torch.Tensor) -> torch.Tensor:
        return render_motion_blur_adjoint(v, self.flow_fw, self.flow_bw, self.tau, self.half_taps)


def _bilinear_entries(pos: torch.Tensor, h: int, w: int, index_dtype: torch.dtype = torch.int64
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Columns [..., 4] (``index_dtype``) and weights [..., 4] of the bilinear interpolation at clamped ``pos``."""
    px = pos[..., 0].clamp(0, w - 1)
    py = pos[..., 1].clamp(0, h - 1)
    x0 = px.floor().clamp(max=max(w - 2, 0))
    y0 = py.floor().clamp(max=max(h - 2, 0))
    fx = px - x0
    fy = py - y0
    x0i = x0.to(index_dtype)
    y0i = y0.to(index_dtype)
    x1i = (x0i + 1).clamp(max=w - 1)
    y1i = (y0i + 1).clamp(max=h - 1)
    cols = torch.stack((y0i * w + x0i, y0i * w + x1i, y1i * w + x0i, y1i * w + x1i), dim=-1)
    wts = torch.stack(((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy), dim=-1)
    return cols, wts


class MotionBlur(LinearOperator):
    """The motion-blur operator ``K`` of a window as one sparse CSR matrix per frame, built in bounded memory.

    Same operator as :func:`render_motion_blur` (to float precision), assembled once for given flows and
    duty cycle so that the many products of the latent solver are sparse matmuls. Rows are assembled in
    chunks of about ``chunk_entries`` bilinear entries (so the set-up's temporaries stay ~0.1 GB at any
    size), and the entries that hit the same pixel are merged (consecutive taps ≤ 1 px apart share most
    of their bilinear neighbours: 51 instead of 132 entries per row on the 1280×720 bench clip at 33 taps).
    Memory: at most ``8·4·(2n+1)·H·W`` bytes per frame (values + int32 columns; 0.36 GB per 1280×720 frame
    on that clip). ``Kᵀ`` is never materialised on the CPU: it is applied from the same arrays as a CSC
    product (scipy; a scatter, no transpose, no sort). On other devices the transpose is built lazily
    per frame by a sort and kept.

    Args:
        flow_fw, flow_bw: [T, 2, H, W] flows to the next / previous frame, pixels.
        tau: duty cycle, scalar or [T].
        half_taps: ``n``; the kernel has ``2n + 1`` taps.
        adjoint: allow :meth:`A_adjoint` (kept for compatibility; it costs no memory on the CPU).
        moments: also assemble the two "moment" operators of :meth:`moment` (flow linearisation).
        chunk_entries: bilinear entries assembled at once (bounds the set-up's temporary memory).
    """

    def __init__(self, flow_fw: torch.Tensor, flow_bw: torch.Tensor, tau: float | torch.Tensor,
                 half_taps: int, adjoint: bool = True, moments: bool = False, chunk_entries: int = 1 << 21) -> None:
        t, _, h, w = flow_fw.shape
        self.frames, self.h, self.w, self.half_taps = t, h, w, half_taps
        self.taps = 2 * half_taps + 1
        self.device = flow_fw.device
        self._allow_adjoint = adjoint
        self._scipy = self.device.type == "cpu" and _scipy_sparse() is not None  # else: cached transposes
        hw = h * w
        self._rows = max(1, chunk_entries // (4 * self.taps))
        self._fwd: list[torch.Tensor] = []
        self._adj: list[torch.Tensor | None] = []
        self._mom: list[tuple[torch.Tensor, torch.Tensor]] = []
        times = tap_times(tau, half_taps, t, flow_fw)  # [T, n]
        base = pixel_grid(h, w, flow_fw).reshape(hw, 2)
        idx = torch.arange(self.taps, device=self.device)
        if self.device.type == "cpu":
            release_free_heap()  # what earlier stages left in the heap, before this operator's peak
        for f in range(t):
            ufw = flow_fw[f].permute(1, 2, 0).reshape(hw, 2)
            ubw = flow_bw[f].permute(1, 2, 0).reshape(hw, 2)
            # tap k: 0 = centre, 2j+1 = +t_j along u_fw, 2j+2 = −t_j along u_bw (the order of _tap_grids)
            signed = torch.zeros(self.taps, device=self.device, dtype=flow_fw.dtype)
            signed[1::2] = times[f]
            signed[2::2] = -times[f]
            self._fwd.append(self._assemble(base, ufw, ubw, times[f], None))
            if moments:
                mom_fw = torch.where(idx % 2 == 1, -signed.abs(), 0.0)
                mom_bw = torch.where((idx % 2 == 0) & (idx > 0), -signed.abs(), 0.0)
                self._mom.append((self._assemble(base, ufw, ubw, times[f], mom_fw),
                                  self._assemble(base, ufw, ubw, times[f], mom_bw)))
            self._adj.append(None)
            if self.device.type == "cpu":
                # the chunks' temporaries, freed, would stay in the heap (~1 GB per 720p frame): return them now,
                # before the solver's own tensors make this the process's peak
                release_free_heap()

    def _assemble(self, base: torch.Tensor, ufw: torch.Tensor, ubw: torch.Tensor, times: torch.Tensor,
                  factors: torch.Tensor | None) -> torch.Tensor:
        """CSR [HW, HW] of one frame; ``factors`` [taps] scale each tap's weight (None = 1; 0 drops the tap)."""
        h, w = self.h, self.w
        hw = h * w
        keep = list(range(self.taps)) if factors is None else [k for k in range(self.taps) if float(factors[k])]
        # all taps of a chunk at once: tap k sits at b − c_fw[k]·u_fw − c_bw[k]·u_bw, one of the two coefficients
        # being 0 (0 = the centre), which gives the positions of the tap-by-tap loop bit for bit
        c_fw = torch.zeros(self.taps, device=self.device, dtype=ufw.dtype)
        c_bw = torch.zeros(self.taps, device=self.device, dtype=ufw.dtype)
        c_fw[1::2] = times
        c_bw[2::2] = times
        sel = torch.tensor(keep, device=self.device)
        c_fw, c_bw = c_fw[sel].view(1, -1, 1), c_bw[sel].view(1, -1, 1)
        # int32 columns (sorted below) when they fit: half the traffic of int64
        index_dtype = torch.int32 if hw < 2**31 - 1 else torch.int64
        cols_parts, vals_parts, counts_parts = [], [], []
        for s in range(0, hw, self._rows):
            e = min(hw, s + self._rows)
            pos = base[s:e, None] - c_fw * ufw[s:e, None] - c_bw * ubw[s:e, None]  # [R, taps, 2]
            cols, vals = _bilinear_entries(pos, h, w, index_dtype)  # [R, taps, 4]
            del pos
            vals /= self.taps
            if factors is not None:
                vals *= factors[keep].view(1, -1, 1)
            c, v, n = _merge_duplicates(cols.view(e - s, -1), vals.view(e - s, -1))
            del cols, vals
            cols_parts.append(c)
            vals_parts.append(v)
            counts_parts.append(n)
        counts = torch.cat(counts_parts)
        nnz = int(counts.sum())
        idx_dtype = torch.int32 if nnz < 2**31 - 1 else torch.int64
        crow = torch.zeros(hw + 1, device=self.device, dtype=torch.int64)
        torch.cumsum(counts, 0, out=crow[1:])
        cols = torch.cat([c.to(idx_dtype) for c in cols_parts]) if len(cols_parts) > 1 else cols_parts[0].to(idx_dtype)
        del cols_parts
        vals = torch.cat(vals_parts) if len(vals_parts) > 1 else vals_parts[0]
        del vals_parts
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.sparse_csr_tensor(crow.to(idx_dtype), cols, vals, (hw, hw))

    def nbytes(self) -> int:
        """Bytes held by the assembled matrices (values + indices)."""
        mats = list(self._fwd) + [m for pair in self._mom for m in pair] + [m for m in self._adj if m is not None]
        return sum(m.values().nbytes + m.col_indices().nbytes + m.crow_indices().nbytes for m in mats)

    @staticmethod
    def _as_matrix(x: torch.Tensor, f: int) -> torch.Tensor:
        c, h, w = x.shape[1:]
        return x[f].reshape(c, h * w).t().contiguous()

    def _apply(self, mats: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        t, c, h, w = x.shape
        out = torch.empty_like(x)
        for f in range(t):
            out[f] = (mats[f] @ self._as_matrix(x, f)).t().reshape(c, h, w)
        return out

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """``K x`` for x [T, C, H, W]."""
        return self._apply(self._fwd, x)

    def A_adjoint(self, v: torch.Tensor) -> torch.Tensor:
        """``Kᵀ v`` for v [T, C, H, W] (requires ``adjoint=True``)."""
        if not self._allow_adjoint:
            raise RuntimeError("MotionBlur was built with adjoint=False")
        t, c, h, w = v.shape
        out = torch.empty_like(v)
        for f in range(t):
            out[f] = _transposed_product(self._fwd[f], v[f].reshape(c, h * w), self._adj, f, self._scipy
                                         ).reshape(c, h, w)
        return out

    def frame(self, f: int) -> LinearOperator:
        """``K`` of frame ``f`` alone (inputs [1, C, H, W]; shares this operator's matrices and transposes)."""
        return _MotionBlurFrame(self, f)

    def moment(self, x: torch.Tensor, side: str) -> torch.Tensor:
        """``Σ_{j on side} w_j·(−|t_j|)·x(p_j)`` — with ``x`` = ∇L this is ``∂(K L)/∂u_side`` per pixel.

        ``side`` is ``"fw"`` (taps along ``u_fw``) or ``"bw"``; requires ``moments=True``.
        """
        if not self._mom:
            raise RuntimeError("MotionBlur was built with moments=False")
        k = 0 if side == "fw" else 1
        return self._apply([m[k] for m in self._mom], x)


class _MotionBlurFrame(LinearOperator):
    """Frame ``f`` of a :class:`MotionBlur` (a view: the matrices and the cached transposes stay the parent's)."""

    def __init__(self, parent: MotionBlur, f: int) -> None:
        self.parent, self.f = parent, f

    def A(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = x.shape[1:]
        return (self.parent._fwd[self.f] @ MotionBlur._as_matrix(x, 0)).t().reshape(1, c, h, w)

    def A_adjoint(self, v: torch.Tensor) -> torch.Tensor:
        p = self.parent
        if not p._allow_adjoint:
            raise RuntimeError("MotionBlur was built with adjoint=False")
        c, h, w = v.shape[1:]
        return _transposed_product(p._fwd[self.f], v[0].reshape(c, h * w), p._adj, self.f, p._scipy
                                   ).reshape(1, c, h, w)


def _merge_duplicates(cols: torch.Tensor, vals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sum the entries of each row that share a column: [R, P] -> flat (cols, vals) row by row, counts [R]."""
    sc, order = cols.sort(dim=1)
    sv = vals.gather(1, order)
    del order
    first = torch.ones_like(sc, dtype=torch.bool)
    first[:, 1:] = sc[:, 1:] != sc[:, :-1]
    run = first.cumsum(1) - 1
    counts = run[:, -1] + 1
    # each entry's place in the flat output (its row's offset + its run): two scatters, no mask or compaction
    dest = run + (torch.cumsum(counts, 0) - counts)[:, None]
    nnz = int(counts.sum())
    uc = sc.new_empty(nnz).scatter_(0, dest.view(-1), sc.view(-1))  # duplicates write the same column
    uv = sv.new_zeros(nnz).scatter_add_(0, dest.view(-1), sv.view(-1))
    return uc, uv, counts


_SPLIT_ROWS = 1 << 16  # rows from which the CPU adjoint product runs on threads (not the small built-in clips)
_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide thread pool of ``workers`` threads (created at first use)."""
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="gvd-adjoint")
    return _POOLS[workers]


def _scipy_sparse():
    """``scipy.sparse`` or None (scipy comes with scikit-image; the fallback keeps torch-only installs working)."""
    try:
        import scipy.sparse as sp  # optional: the fallback keeps torch-only installs working
    except ImportError:  # pragma: no cover
        return None
    return sp


def _transposed_product(mat: torch.Tensor, v: torch.Tensor, cache: list, f: int, use_scipy: bool) -> torch.Tensor:
    """``(matᵀ vᵀ)ᵀ`` [C, N] for a CSR ``mat`` [N, N] and ``v`` [C, N] (one image's channels as rows).

    ``use_scipy`` (CPU only): scipy's CSC product on the same arrays (zero copy; a scatter, nothing is built), channel
    by channel, from ``_SPLIT_ROWS`` rows with the channels on ``torch.get_num_threads()`` threads. (Row blocks on
    threads with summed partial results were slower in the solver: the 720p colour latent step 201 s against 137 s.)
    Otherwise the transpose is built once by a (stable) sort and cached in ``cache[f]``.
    """
    if use_scipy:
        import numpy as np  # deferred: only the scipy path needs numpy

        c, n = v.shape
        vals, cols, crow = mat.values().detach().numpy(), mat.col_indices().numpy(), mat.crow_indices().numpy()
        vt = np.ascontiguousarray(v.detach().numpy())
        k = torch.get_num_threads() if n >= _SPLIT_ROWS else 1
        mt = _scipy_sparse().csr_matrix((vals, cols, crow), shape=(n, n), copy=False).T
        out = np.empty_like(vt)

        # one vector at a time: scipy's single-vector CSC product is a tight loop, its multi-vector one is not (a
        # 1280×720 frame, 33 taps, AMD EPYC: 62 ms per channel against 264 ms for 3 channels at once), and each
        # channel's sums run in the multi-vector product's order (bit for bit the same result)
        def channel(i: int) -> None:
            out[i] = mt @ vt[i]

        if k < 2 or c < 2:
            for i in range(c):
                channel(i)
        else:  # channels on threads (scipy releases the GIL): disjoint outputs, nothing to sum
            list(_pool(k).map(channel, range(c)))
        return torch.from_numpy(out)
    if cache[f] is None:
        crow, cols, vals = mat.crow_indices(), mat.col_indices(), mat.values()
        n = mat.shape[0]
        rows = torch.repeat_interleave(torch.arange(n, device=mat.device), crow.diff().long())
        order = torch.argsort(cols.long(), stable=True)
        crow_t = torch.zeros(n + 1, device=mat.device, dtype=torch.int64)
        crow_t[1:] = torch.cumsum(torch.bincount(cols.long(), minlength=n), 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cache[f] = torch.sparse_csr_tensor(crow_t.to(cols.dtype), rows[order].to(cols.dtype), vals[order], (n, n))
    return (cache[f] @ v.t()).t()
