"""Flow sub-problem (TPAMI 2017 eqs. 11–14) and the classical initial flows.

With ``L``, ``σ`` and ``τ`` fixed, the bidirectional flows minimise (see :mod:`.energy`)::

    λ Σ κ_c‖K(u_fw, u_bw) G ∂_c L − ∂_c B‖² + μ Σ m|L_i − L_{i+n}(x + u_{i→i+n})| + ν Σ wTV(u).

Each *warp* linearises the data and temporal terms around the current flows ``u₀`` of one direction
(the other direction fixed): the data residual ``r + J·Δ`` (``J = ∂(K G ∂_c L)/∂u`` per pixel, rendered
along the taps, :func:`~.kernels.render_motion_blur_jacobian`) gives a Gauss–Newton quadratic, each
temporal residual ``r_n + a_n·Δ`` (``a_n = −∇L_{i+n}(x + u_{i→i+n})``) stays an L1 term with its own dual,
and the edge-weighted TV keeps its dual; a diagonally preconditioned primal-dual (Pock & Chambolle 2011)
solves the linearised problem, the step is capped to ``max_step`` px and accepted by a backtracking line
search on the true energy (so each warp never increases it). The MATLAB release linearises with
±0.5 px finite differences and runs 5 warps × 21 primal-dual iterations, then a 5×5 median filter
(applied here only when it lowers the energy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from blurbench.ops.gvd.defocus import DefocusBlur
from blurbench.ops.gvd.energy import (
    DATA_WEIGHTS,
    TemporalLinks,
    data_channels,
    temporal_energy,
    temporal_links,
    weighted_tv_energy,
)
from blurbench.ops.gvd.kernels import render_motion_blur_jacobian, render_motion_blur_side
from blurbench.ops.gvd.operators import edge_weights, warp

__all__ = ["FlowProblem", "flow_energy", "flow_step", "initial_flows", "central_grad", "median_filter"]


def central_grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences (one-sided at the border): ``(∂x x, ∂y x)``."""
    xp = F.pad(x, (1, 1, 1, 1), mode="replicate")
    gx = 0.5 * (xp[..., 1:-1, 2:] - xp[..., 1:-1, :-2])
    gy = 0.5 * (xp[..., 2:, 1:-1] - xp[..., :-2, 1:-1])
    return gx, gy


def median_filter(x: torch.Tensor, size: int = 5) -> torch.Tensor:
    """Per-channel ``size×size`` median with replicated borders."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or size not in (3, 5):
        return _median_unfold(x, size)
    import cv2  # deferred like the initial flows' (importing it costs ~0.1 s)

    # OpenCV's float median (3×3 and 5×5 only) replicates the border too: the same order statistic, ~40x
    # faster at 1280×720 than the unfold + sort (bit for bit the same values)
    out = torch.empty_like(x)
    for f in range(x.shape[0]):
        for c in range(x.shape[1]):
            out[f, c] = torch.from_numpy(cv2.medianBlur(x[f, c].contiguous().numpy(), size))
    return out


def _median_unfold(x: torch.Tensor, size: int) -> torch.Tensor:
    """:func:`median_filter` on any device and size (frame by frame to bound memory)."""
    r = size // 2
    out = torch.empty_like(x)
    for f in range(x.shape[0]):
        xp = F.pad(x[f:f + 1], (r, r, r, r), mode="replicate")
        patches = xp.unfold(2, size, 1).unfold(3, size, 1)  # [1, C, H, W, s, s]
        out[f] = patches.reshape(*patches.shape[:4], -1).median(dim=-1).values[0]
    return out


@dataclass
class FlowProblem:
    """The fixed inputs of the flow (and σ) sub-problems for one window at one scale."""

    latent: torch.Tensor          # [T, C, H, W]
    blurry: torch.Tensor          # [T, C, H, W]
    tau: torch.Tensor             # [T]
    half_taps: int
    sigma: torch.Tensor | None    # [T, 1, H, W] px, None = no defocus
    lam: float
    mu: float
    nu: float
    neighbours: int = 2
    occlusion: bool = True
    v_i: float = (25 / 255) ** 2
    weights: tuple[float, float, float] = DATA_WEIGHTS

    def __post_init__(self) -> None:
        self.dl = data_channels(self.latent, self.weights)
        self.db = data_channels(self.blurry, self.weights)
        self.wx, self.wy = edge_weights(self.latent, self.v_i)
        self.masks: dict[int, torch.Tensor] | None = None

    def defocused(self, sigma: torch.Tensor | None = None, radius: int | None = None) -> torch.Tensor:
        """``G(σ) D L`` (``D L`` when there is no defocus)."""
        s = self.sigma if sigma is None else sigma
        return self.dl if s is None else DefocusBlur(s, radius).A(self.dl)

    def links(self, flow_fw: torch.Tensor, flow_bw: torch.Tensor) -> TemporalLinks | None:
        """Temporal links for these flows; visibility masks frozen at the first call."""
        if self.mu <= 0 or self.neighbours <= 0:
            return None
        links = temporal_links(flow_fw, flow_bw, self.neighbours, self.occlusion, masks=self.masks)
        if self.masks is None:
            self.masks = links.mask
        return links


def flow_energy(prob: FlowProblem, flow_fw: torch.Tensor, flow_bw: torch.Tensor,
                gdl: torch.Tensor | None = None, return_render: bool = False,
                sides: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None)):
    """Terms of the energy that depend on the flows (data + temporal + flow TV), a scalar.

    ``sides``: the tap sums of ``K G D L`` (:func:`~.kernels.render_motion_blur_side`, fw then bw) already known at
    these flows (None: rendered). With ``return_render`` also the rendered ``K G D L`` (the next linearisation at
    these flows reuses it) and both sides' sums: ``(e, render, sides)``.
    """
    gdl = prob.defocused() if gdl is None else gdl
    sides = tuple(render_motion_blur_side(gdl, flow, prob.tau, prob.half_taps, name) if part is None else part
                  for part, flow, name in zip(sides, (flow_fw, flow_bw), ("fw", "bw")))
    render = (sides[0] + sides[1]).div_(2 * prob.half_taps + 1)
    e = prob.lam * (render - prob.db).square().sum()
    links = prob.links(flow_fw, flow_bw)
    if links is not None:
        e = e + temporal_energy(prob.latent, links, prob.mu).sum()
    tv = weighted_tv_energy(flow_fw, prob.wx, prob.wy) + weighted_tv_energy(flow_bw, prob.wx, prob.wy)
    e = e + prob.nu * tv.sum()
    return (e, render, sides) if return_render else e


def _colsum_tv(wx: torch.Tensor, wy: torch.Tensor) -> torch.Tensor:
    """Σ_i |K_ij| of the weighted gradient for every pixel j (for the primal preconditioner)."""
    cx = wx.clone()
    cx[..., :, -1] = 0
    cy = wy.clone()
    cy[..., -1, :] = 0
    out = cx + cy
    out[..., :, 1:] += cx[..., :, :-1]
    out[..., 1:, :] += cy[..., :-1, :]
    return out


def _linearised_pd(u0: torch.Tensor, hxx, hxy, hyy, gx, gy, temporal, wx, wy, nu: float, mu: float,
                   iters: int, damping: float) -> torch.Tensor:
    """Preconditioned primal-dual on the linearised flow problem of one direction; returns the new flow.

    ``temporal``: list of ``(src [P], r [P, C, H, W], ax, ay [P, C, H, W], mask [P, 1, H, W], rows)``, ``rows``
    the slice of frames that ``src`` enumerates (a window's links join contiguous ranges: views, not gathers).
    """
    eps = 1e-8
    colsum = _colsum_tv(wx, wy)  # [T, 1, H, W]
    tsum_x = torch.zeros_like(colsum)
    tsum_y = torch.zeros_like(colsum)
    sig_q = []
    for src, _, ax, ay, _, _ in temporal:
        tsum_x.index_add_(0, src, ax.abs().sum(1, keepdim=True))
        tsum_y.index_add_(0, src, ay.abs().sum(1, keepdim=True))
        sig_q.append(1.0 / (ax.abs() + ay.abs() + eps))
    tau_x = 1.0 / (colsum + tsum_x + eps)
    tau_y = 1.0 / (colsum + tsum_y + eps)
    sig_p = 1.0 / (2.0 * torch.maximum(wx, wy) + eps)
    # prox of ½ΔᵀHΔ + gᵀΔ + ε/2|Δ|² with metric diag(1/τ): a 2×2 solve per pixel
    a11 = 1.0 / tau_x + hxx + damping
    a22 = 1.0 / tau_y + hyy + damping
    det = (a11 * a22 - hxy * hxy).clamp_min(eps)
    # loop invariants, hoisted: an iteration is a few dozen passes over [T, 2, H, W], kept in place
    inv_step = 1.0 / torch.cat((tau_x, tau_y), dim=1)
    g = torch.cat((gx, gy), dim=1)
    s_x, s_y = sig_p * wx, sig_p * wy
    m11, m12, m22 = a22 / det, hxy / det, a11 / det  # the inverse of [[a11, hxy], [hxy, a22]]
    links = []
    for _, r, ax, ay, m, rows in temporal:
        c = r.shape[1]
        axy = torch.stack((ax, ay), dim=1)  # [P, 2, C, H, W]: both components of the linearised residual
        links.append((rows, r, ax, ay, axy, mu * m, -mu * m, c))
    inv_nu = 1.0 / nu

    h = u0.shape[-2]
    u = u0.clone()
    ubar = u0.clone()
    u_new = torch.empty_like(u0)
    dual = torch.zeros(u0.shape[0], 2 * u0.shape[1], *u0.shape[2:], device=u0.device, dtype=u0.dtype)
    k = u0.shape[1]
    dx = torch.zeros_like(u0)  # forward differences of ubar (last column / row stay zero: Neumann)
    dy = torch.zeros_like(u0)
    q = [torch.zeros_like(lk[1]) for lk in links]
    band = _band_rows(u0) or h
    for _ in range(iters):
        # rows in bands, in increasing order: a band's dual step reads the old ubar one row below it (not yet
        # overwritten) and its Kᵀy the new dual one row above it (already updated), so every pixel sees the
        # values of the whole-image iteration, through the same per-pixel operations
        for y0 in range(0, h, band):
            y1 = min(h, y0 + band)
            rs = slice(y0, y1)
            ub, du = ubar[..., rs, :], dual[..., rs, :]
            px, py = du[:, :k], du[:, k:]
            torch.sub(ub[..., :, 1:], ub[..., :, :-1], out=dx[..., rs, :-1])
            ye = min(y1, h - 1)  # dy's last row stays zero
            if ye > y0:
                torch.sub(ubar[..., y0 + 1:ye + 1, :], ubar[..., y0:ye, :], out=dy[..., y0:ye, :])
            px.addcmul_(s_x[..., rs, :], dx[..., rs, :])
            py.addcmul_(s_y[..., rs, :], dy[..., rs, :])
            scale = du[:, 0:1].square()  # |(px, py)| per pixel, accumulated channel by channel (a reduction
            for ch in range(1, du.shape[1]):  # over dim 1 is several times slower on the CPU)
                scale.addcmul_(du[:, ch:ch + 1], du[:, ch:ch + 1])
            du.div_(scale.sqrt_().mul_(inv_nu).clamp_(min=1.0))
            del scale
            kty = _grad_adjoint_rows(wx, wy, dual, k, y0, y1)
            d = ub - u0[..., rs, :]
            for j, (rows, r, ax, ay, axy, hi, lo, c) in enumerate(links):
                ds = d[rows]
                lin = torch.addcmul(r[..., rs, :], ax[..., rs, :], ds[:, 0:1]).addcmul_(ay[..., rs, :], ds[:, 1:2])
                qj = q[j][..., rs, :].addcmul_(sig_q[j][..., rs, :], lin)
                torch.minimum(qj, hi[..., rs, :], out=qj)
                torch.maximum(qj, lo[..., rs, :], out=qj)
                back = axy[..., rs, :] * qj.unsqueeze(1)  # [P, 2, C, rows, W]
                kty[rows] += back[:, :, 0] if c == 1 else back.sum(2)
            # b = (u − τ·Kᵀy − u0)/τ − g, then Δ = M⁻¹ b per pixel
            u_b, u0_b, un = u[..., rs, :], u0[..., rs, :], u_new[..., rs, :]
            b = (u_b - u0_b).mul_(inv_step[..., rs, :]).sub_(kty).sub_(g[..., rs, :])
            bx, by = b[:, 0:1], b[:, 1:2]
            m11_b, m12_b, m22_b = m11[..., rs, :], m12[..., rs, :], m22[..., rs, :]
            torch.addcmul(u0_b[:, 0:1], m11_b, bx, out=un[:, 0:1]).addcmul_(m12_b, by, value=-1.0)
            torch.addcmul(u0_b[:, 1:2], m22_b, by, out=un[:, 1:2]).addcmul_(m12_b, bx, value=-1.0)
            torch.lerp(u_b, un, 2.0, out=ub)  # ubar = 2·u_new − u
        u, u_new = u_new, u
    return u


#: values per image row band (frames × rows × columns of one flow component) from which the flow primal-dual
#: iterates band by band: the dozens of passes of an iteration then run on data in cache (bit for bit the same
#: result; None, a smaller image or another device than the CPU: one band)
PD_BAND_VALUES: int | None = 1 << 17


def _band_rows(u0: torch.Tensor) -> int | None:
    """Rows per band of :func:`_linearised_pd` for flows ``u0`` [T, 2, H, W] (None: the whole image at once)."""
    t, _, h, w = u0.shape
    # a GPU gains nothing from cache-sized bands and would pay a kernel launch per band and pass
    if PD_BAND_VALUES is None or t * h * w <= 4 * PD_BAND_VALUES or u0.device.type != "cpu":
        return None
    return max(1, PD_BAND_VALUES // (t * w))


def _grad_adjoint_rows(wx: torch.Tensor, wy: torch.Tensor, dual: torch.Tensor, k: int, y0: int, y1: int
                       ) -> torch.Tensor:
    """Rows ``y0:y1`` of ``grad_adjoint(wx·px, wy·py)`` (``px, py = dual[:, :k], dual[:, k:]``), with the same
    operations in the same order per pixel as the whole-image call."""
    h = dual.shape[-2]
    rs = slice(y0, y1)
    wpx = wx[..., rs, :] * dual[:, :k, rs, :]
    out = torch.zeros_like(wpx)
    out[..., :, :-1] -= wpx[..., :, :-1]
    out[..., :, 1:] += wpx[..., :, :-1]
    del wpx
    ye = min(y1, h - 1)  # −py on rows < H − 1
    if ye > y0:
        out[..., :ye - y0, :] -= wy[..., y0:ye, :] * dual[:, k:, y0:ye, :]
    ys = max(y0, 1)  # +py of the row above on rows ≥ 1
    if y1 > ys:
        out[..., ys - y0:, :] += wy[..., ys - 1:y1 - 1, :] * dual[:, k:, ys - 1:y1 - 1, :]
    return out


def _linearise(prob: FlowProblem, flow_fw: torch.Tensor, flow_bw: torch.Tensor, side: str, gdl: torch.Tensor,
               rendered: torch.Tensor | None = None):
    """Gauss–Newton terms of the data energy and linearised temporal residuals for one direction.

    ``rendered``: ``K G D L`` at these flows when already known (from the energy that accepted them).
    """
    ggx, ggy = central_grad(gdl)
    kx, jx, jy = render_motion_blur_jacobian(gdl, ggx, ggy, flow_fw, flow_bw, prob.tau, prob.half_taps, side,
                                             kx=rendered)
    r = kx - prob.db
    two_lam = 2.0 * prob.lam
    hxx = two_lam * jx.square().sum(1, keepdim=True)
    hxy = two_lam * (jx * jy).sum(1, keepdim=True)
    hyy = two_lam * jy.square().sum(1, keepdim=True)
    gx = two_lam * (jx * r).sum(1, keepdim=True)
    gy = two_lam * (jy * r).sum(1, keepdim=True)
    temporal = []
    links = prob.links(flow_fw, flow_bw)
    if links is not None:
        lgx, lgy = central_grad(prob.latent)
        for n in links.offsets:
            if (n > 0) != (side == "fw"):
                continue
            rows, dst = links.rows(n)
            f = links.flow[n]
            res = prob.latent[rows] - warp(prob.latent[dst], f)
            temporal.append((links.src[n], res, -warp(lgx[dst], f), -warp(lgy[dst], f), links.mask[n], rows))
    return hxx, hxy, hyy, gx, gy, temporal


def flow_step(prob: FlowProblem, flow_fw: torch.Tensor, flow_bw: torch.Tensor, warps: int = 5,
              pd_iters: int = 21, damping: float = 1e-2, max_step: float = 1.0, median: bool = True,
              line_search: int = 4, freeze_unlinked: bool = True
              ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """Refine both flow directions; returns ``(flow_fw, flow_bw, info)`` with the energy before/after.

    With ``freeze_unlinked`` the flows that point out of the window (``flow_fw`` of the last frame,
    ``flow_bw`` of the first) are kept: no frame of the window constrains them.
    """
    gdl = prob.defocused()
    t = flow_fw.shape[0]
    movable = {"fw": torch.ones(t, 1, 1, 1, device=flow_fw.device, dtype=flow_fw.dtype),
               "bw": torch.ones(t, 1, 1, 1, device=flow_fw.device, dtype=flow_fw.dtype)}
    if freeze_unlinked and t > 1:
        movable["fw"][-1] = 0
        movable["bw"][0] = 0
    fw, bw = flow_fw.clone(), flow_bw.clone()
    # k_cur: K G D L at the current flows; parts: its fw and bw tap sums (a trial of one side re-renders that side)
    e_cur, k_cur, parts = flow_energy(prob, fw, bw, gdl, return_render=True)
    info = {"energy_before": float(e_cur), "accepted": 0, "tried": 0}
    for _ in range(warps):
        for side in ("fw", "bw"):
            u0 = fw if side == "fw" else bw
            hxx, hxy, hyy, gx, gy, temporal = _linearise(prob, fw, bw, side, gdl, k_cur)
            u = _linearised_pd(u0, hxx, hxy, hyy, gx, gy, temporal, prob.wx, prob.wy, prob.nu, prob.mu,
                               pd_iters, damping)
            step = (u - u0) * movable[side]
            norm = step.norm(dim=1, keepdim=True)
            step = step * (max_step / norm.clamp_min(max_step))
            info["tried"] += 1
            alpha = 1.0
            for _ in range(line_search):
                cand = u0 + alpha * step
                trial = (cand, bw) if side == "fw" else (fw, cand)
                kept = (None, parts[1]) if side == "fw" else (parts[0], None)
                e_new, k_new, p_new = flow_energy(prob, *trial, gdl, return_render=True, sides=kept)
                if float(e_new) < float(e_cur):
                    fw, bw = trial
                    e_cur, k_cur, parts = e_new, k_new, p_new
                    info["accepted"] += 1
                    break
                alpha *= 0.5
    if median:
        for side in ("fw", "bw"):
            u0 = fw if side == "fw" else bw
            cand = u0 + (median_filter(u0) - u0) * movable[side]
            trial = (cand, bw) if side == "fw" else (fw, cand)
            kept = (None, parts[1]) if side == "fw" else (parts[0], None)
            e_new, _, p_new = flow_energy(prob, *trial, gdl, return_render=True, sides=kept)
            if float(e_new) < float(e_cur):
                fw, bw = trial
                e_cur, parts = e_new, p_new
    info["energy_after"] = float(e_cur)
    return fw, bw, info


def _to_gray_u8(frame: torch.Tensor) -> np.ndarray:
    x = frame.detach().float().cpu()
    gray = x.mean(0) if x.shape[0] != 3 else 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
    return (gray.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).numpy()


def _pair_flow(a: np.ndarray, b: np.ndarray, method: str, preset: str) -> np.ndarray:
    import cv2  # deferred: OpenCV only for the optional initial flow of this function

    if method == "dis":
        presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                   "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
        return cv2.DISOpticalFlow_create(presets[preset]).calc(a, b, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 5, 15, 5, 7, 1.5, 0)
    if method == "tvl1":
        factory = getattr(getattr(cv2, "optflow", None), "DualTVL1OpticalFlow_create", None)
        if factory is None:
            raise RuntimeError("TV-L1 flow needs opencv-contrib (cv2.optflow); use init_flow='dis'")
        return factory().calc(a, b, None)
    raise ValueError(f"unknown initial flow method {method!r} (dis, farneback, tvl1)")


def initial_flows(frames: torch.Tensor, method: str = "dis", preset: str = "medium"
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Classical flows between neighbouring frames: ``(flow_fw, flow_bw)`` [T, 2, H, W] on the input device.

    ``flow_fw[i] = flow_{i→i+1}``, ``flow_bw[i] = flow_{i→i−1}``, estimated on the 8-bit luminance with
    OpenCV (DIS by default). The missing end flows are mirrored: ``flow_bw[0] = −flow_fw[0]``,
    ``flow_fw[T−1] = −flow_bw[T−1]`` (as the MATLAB release does). A single frame gets zero flows.
    """
    t, _, h, w = frames.shape
    gray = [_to_gray_u8(f) for f in frames]
    fw = np.zeros((t, h, w, 2), np.float32)
    bw = np.zeros((t, h, w, 2), np.float32)
    for i in range(t - 1):
        fw[i] = _pair_flow(gray[i], gray[i + 1], method, preset)
        bw[i + 1] = _pair_flow(gray[i + 1], gray[i], method, preset)
    if t > 1:
        bw[0] = -fw[0]
        fw[t - 1] = -bw[t - 1]
    conv = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).to(device=frames.device, dtype=frames.dtype)  # noqa: E731
    return conv(fw), conv(bw)
