"""Space-varying re-blurring with a kernel basis and mixing maps (Carbajal et al. 2021 forward model).

Forward model, for every colour channel ``c`` (the same kernels and maps for every channel)::

    v_c = sum_b m_b * (u_c ⋆ k_b)

where ``⋆`` is cross-correlation exactly as :func:`torch.nn.functional.conv2d` computes it (no kernel flip)
and ``*`` is the pixelwise product. Shapes: ``sharp`` ``u`` [N, C, H, W], ``kernels`` [N, B, K, K],
``mixing`` [N, B, Ho, Wo] (the OUTPUT size). Kernels and maps need not be normalised.

Padding modes (``PADDINGS``):

- ``"reflect"``, ``"replicate"``, ``"zeros"``: the input is padded first, then a valid correlation is
  taken, so the output is H×W. The pad is ``(K - 1) // 2`` before (top/left) and ``K // 2`` after
  (bottom/right): K // 2 on each side for odd K; for even K one more row/column after than before, the
  split of ``F.conv2d(..., padding="same")``.
- ``"valid"``: no padding, output (H - K + 1)×(W - K + 1) (the training convention: a (256 + 32)² sharp crop
  gives a 256² blurry crop with K = 33).

``reblur_reference`` is the direct implementation (per-channel ``F.conv2d``, masks, sum); ``reblur`` computes
the same map with FFTs; ``reblur_adjoint`` is its exact adjoint, including the adjoint of the padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["PADDINGS", "pad_sizes", "pixel_kernels", "reblur", "reblur_adjoint", "reblur_reference"]

PADDINGS = ("reflect", "replicate", "zeros", "valid")


# ----------------------------------------------------------------------------------------------- checks
def pad_sizes(kernel_size: int) -> tuple[int, int]:
    """(before, after) padding of one spatial dimension for the padded modes: ((K - 1) // 2, K // 2)."""
    return (kernel_size - 1) // 2, kernel_size // 2


def _check(sharp_hw: tuple[int, int], sharp: Tensor, kernels: Tensor, mixing: Tensor, padding: str,
           what: str) -> tuple[int, int]:
    """Validate the arguments; return the blurry (output) size (Ho, Wo) for the given sharp size."""
    if padding not in PADDINGS:
        raise ValueError(f"unknown padding {padding!r}; expected one of {PADDINGS}")
    if sharp.dim() != 4:
        raise ValueError(f"{what} must be [N, C, H, W], got shape {tuple(sharp.shape)}")
    if kernels.dim() != 4 or kernels.shape[-1] != kernels.shape[-2]:
        raise ValueError(f"kernels must be [N, B, K, K] (square), got shape {tuple(kernels.shape)}")
    if mixing.dim() != 4:
        raise ValueError(f"mixing must be [N, B, Ho, Wo], got shape {tuple(mixing.shape)}")
    for name, t in ((what, sharp), ("kernels", kernels), ("mixing", mixing)):
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
    if not (sharp.dtype == kernels.dtype == mixing.dtype):
        raise ValueError(
            f"dtype mismatch: {what} {sharp.dtype}, kernels {kernels.dtype}, mixing {mixing.dtype}"
        )
    n, b, k = sharp.shape[0], kernels.shape[1], kernels.shape[-1]
    if kernels.shape[0] != n or mixing.shape[0] != n:
        raise ValueError(
            f"batch size mismatch: {what} {tuple(sharp.shape)}, kernels {tuple(kernels.shape)}, "
            f"mixing {tuple(mixing.shape)}"
        )
    if mixing.shape[1] != b:
        raise ValueError(
            f"number of kernels mismatch: kernels {tuple(kernels.shape)} vs mixing {tuple(mixing.shape)}"
        )
    h, w = sharp_hw
    if padding == "valid":
        if h < k or w < k:
            raise ValueError(f"'valid' padding needs the sharp image ({h}x{w}) at least as large as K={k}")
        out = (h - k + 1, w - k + 1)
    else:
        if padding == "reflect" and max(pad_sizes(k)) >= min(h, w):
            raise ValueError(f"'reflect' padding of {max(pad_sizes(k))} needs a sharp image larger than "
                             f"that, got {h}x{w}")
        out = (h, w)
    if tuple(mixing.shape[-2:]) != out:
        raise ValueError(
            f"mixing spatial size {tuple(mixing.shape[-2:])} must equal the blurry size {out} "
            f"(sharp {h}x{w}, K={k}, padding {padding!r})"
        )
    return out


# ---------------------------------------------------------------------------------------------- padding
def _pad(x: Tensor, k: int, padding: str) -> Tensor:
    """Pad [.., H, W] for the padded modes (no-op for "valid")."""
    if padding == "valid":
        return x
    before, after = pad_sizes(k)
    pads = (before, after, before, after)
    if padding == "zeros":
        return F.pad(x, pads)
    return F.pad(x, pads, mode=padding)


def _fold_dim(y: Tensor, before: int, after: int, padding: str, dim: int) -> Tensor:
    """Adjoint of padding one dimension: crop the core and fold the padded values back onto it."""
    n = y.shape[dim] - before - after
    core = y.narrow(dim, before, n).clone()
    if padding == "zeros" or (before == 0 and after == 0):
        return core
    head, tail = y.narrow(dim, 0, before), y.narrow(dim, before + n, after)
    if padding == "reflect":  # input index -i  <- padded -i ; n-1+i <- padded n-1-i (edge not repeated)
        if before:
            core.narrow(dim, 1, before).add_(head.flip(dim))
        if after:
            core.narrow(dim, n - 1 - after, after).add_(tail.flip(dim))
    else:  # replicate: every padded value is a copy of the edge
        if before:
            core.narrow(dim, 0, 1).add_(head.sum(dim, keepdim=True))
        if after:
            core.narrow(dim, n - 1, 1).add_(tail.sum(dim, keepdim=True))
    return core


def _pad_adjoint(y: Tensor, k: int, padding: str) -> Tensor:
    """Exact adjoint of :func:`_pad` (sum of the padded copies folded onto their sources)."""
    if padding == "valid":
        return y
    before, after = pad_sizes(k)
    return _fold_dim(_fold_dim(y, before, after, padding, -2), before, after, padding, -1)


# ------------------------------------------------------------------------------------------- reference
def reblur_reference(sharp: Tensor, kernels: Tensor, mixing: Tensor, padding: str = "reflect") -> Tensor:
    """Direct re-blur the official code's way: ``F.conv2d`` of each colour channel with weight (B, 1, K, K)
    (the channels batched into one call per sample), multiply by the masks, sum over B.

    Same conventions and shapes as :func:`reblur`; holds the [N, C, B, Ho, Wo] stack of blurred copies.
    """
    _check(tuple(sharp.shape[-2:]), sharp, kernels, mixing, padding, "sharp")
    k = kernels.shape[-1]
    x = _pad(sharp, k, padding)
    y = torch.stack([F.conv2d(x[i].unsqueeze(1), kernels[i].unsqueeze(1)) for i in range(x.shape[0])])
    return (y * mixing.unsqueeze(1)).sum(2)


# ------------------------------------------------------------------------------------------ FFT engine
# Overlap-save FFT correlation on tiles, two real outputs per complex transform:
#
# * Tiles: the output is cut into th×tw tiles; tile (i, j) reads the (th+K-1)×(tw+K-1) input window at
#   (i*th, j*tw), transformed at the fast size fh×fw >= that window. Circular correlation of that size is
#   exact on the th×tw outputs. On CPU, tiles of at most ~300² keep the transforms cache-sized (a 720p image
#   in 15 tiles runs ~2.5x faster per pixel than one 768×1344 transform) and bound the memory; the training
#   crop (256² outputs, K = 33) is a single 288² tile.
# * Kernel pairs: with the "pair spectrum" Q_p(w) = sum_j (k_2p + i k_2p+1)[j] e^{+i w.j},
#   ifft2(fft2(u) Q_p) = (u ⋆ k_2p) + i (u ⋆ k_2p+1) for real u, so the C·B real correlations take
#   C·ceil(B/2) complex inverse transforms (full-size complex FFTs are also the fastest MKL path).
# * Adjoint / gradients: with s = m_2p v + i m_2p+1 v, Re ifft2(fft2(s) conj(Q_p)) summed over p is
#   sum_b k_b * (m_b v) (full convolution), and ifft2(conj(fft2(s)) fft2(u)) at lags 0..K-1 is
#   g_2p - i g_2p+1 with g_b = the kernel gradient. Each tile's adjoint is overlap-added.
_TILE_MAX_CPU = 320  # largest FFT tile side on CPU (160–320 measured within 10% per pixel; 384+ is slower)
_TILE_MAX_OTHER = 4096  # other devices: effectively one tile
_CHUNK_TRANSFORMS = 6  # complex transforms per batched FFT call: small chunks stay in cache (measured 6 < 40)


def _good_size(n: int) -> int:
    """Smallest m >= n whose prime factors are all in {2, 3, 5, 7} (fast FFT sizes)."""
    m = max(int(n), 1)
    while True:
        r = m
        for p in (2, 3, 5, 7):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def _plan_dim(out: int, k: int, fmax: int) -> tuple[int, int, int]:
    """(number of tiles, outputs per tile, FFT size) along one dimension: the fewest FFT samples (plus a
    per-tile overhead of 32) with sizes <= fmax."""
    fmax = max(fmax, _good_size(2 * k))
    best, best_cost = None, None
    for n in range(1, out + 1):
        f = _good_size(-(-out // n) + k - 1)
        t = f - k + 1
        n_used = -(-out // t)
        if f <= fmax and (best is None or n_used * (f + 32) < best_cost):
            best, best_cost = (n_used, t, f), n_used * (f + 32)
        if t <= k:  # tiles no larger than the kernel: only worse from here
            break
    return best


class _Plan:
    """Tiling of an Ho×Wo output for kernel size K; input windows live in a zero-extended (hx, wx) canvas."""

    def __init__(self, ho: int, wo: int, k: int, device: torch.device):
        fmax = _TILE_MAX_CPU if device.type == "cpu" else _TILE_MAX_OTHER
        self.ho, self.wo, self.k = ho, wo, k
        self.nh, self.th, self.fh = _plan_dim(ho, k, fmax)
        self.nw, self.tw, self.fw = _plan_dim(wo, k, fmax)
        self.hx = (self.nh - 1) * self.th + self.fh
        self.wx = (self.nw - 1) * self.tw + self.fw

    def tiles(self):
        """Yield (r0, c0, rows, cols): output tile origin and size (the last row/column may be partial)."""
        for i in range(self.nh):
            r0 = i * self.th
            for j in range(self.nw):
                c0 = j * self.tw
                yield r0, c0, min(self.th, self.ho - r0), min(self.tw, self.wo - c0)

    def extend(self, x: Tensor) -> Tensor:
        """Zero-extend a padded sharp-side signal [.., Ho+K-1, Wo+K-1] to the tile canvas."""
        dh, dw = self.hx - x.shape[-2], self.wx - x.shape[-1]
        return F.pad(x, (0, dw, 0, dh)) if dh or dw else x


def _pair_spectra(kernels: Tensor, fh: int, fw: int) -> Tensor:
    """Q_p(w) = sum_j (k_2p + i k_2p+1)[j] e^{+i w.j} on the fh×fw grid: [N, ceil(B/2), fh, fw] complex."""
    if kernels.shape[1] % 2:
        kernels = F.pad(kernels, (0, 0, 0, 0, 0, 1))
    kc = torch.complex(kernels[:, 0::2], kernels[:, 1::2])
    # unnormalised inverse DFT == sum with e^{+iwj}; the short kernel axis first (pruned first stage)
    q = torch.fft.ifft(kc, n=fh, dim=-2, norm="forward")
    return torch.fft.ifft(q, n=fw, dim=-1, norm="forward")


def _tile_pass(
    x: Tensor | None,
    v: Tensor | None,
    kernels: Tensor,
    mixing: Tensor,
    plan: _Plan,
    *,
    fwd: bool = False,
    adj: bool = False,
    gk: bool = False,
    gm: bool = False,
) -> dict[str, Tensor]:
    """One sweep over the tiles computing any of (with u = x, the zero-extended padded sharp side):

    - ``fwd``: ``y = sum_b m_b (u ⋆ k_b)`` [N, C, Ho, Wo]
    - ``adj``: ``a = sum_b k_b * (m_b v)`` on the canvas [N, C, hx, wx] (crop to Ho+K-1, Wo+K-1 outside)
    - ``gk``:  ``d/dk_b <v, y> = sum_c corr(u_c, m_b v_c)`` at lags 0..K-1, [N, B, K, K]
    - ``gm``:  ``d/dm_b <v, y> = sum_c v_c (u_c ⋆ k_b)``, [N, B, Ho, Wo]
    """
    n, b = mixing.shape[:2]
    c = (x if x is not None else v).shape[1]
    k, fh, fw = plan.k, plan.fh, plan.fw
    npair = (b + 1) // 2
    q = _pair_spectra(kernels, fh, fw)  # [N, P, fh, fw]
    qc = q.conj().resolve_conj() if adj else None
    pc = max(1, min(npair, -(-_CHUNK_TRANSFORMS // (n * c))))
    out: dict[str, Tensor] = {}
    if fwd:
        out["y"] = mixing.new_empty(n, c, plan.ho, plan.wo)
        acc = mixing.new_empty(n, c, plan.th, plan.tw, 2)
    if adj:
        out["a"] = mixing.new_zeros(n, c, plan.hx, plan.wx)
        acc_a = q.new_empty(n, c, fh, fw)
    if gk:
        acc_k = q.new_zeros(n, npair, fh, fw)
    if gm:
        gm_pairs = mixing.new_empty(n, npair, plan.ho, plan.wo, 2)
    need_z = fwd or gm
    need_s = adj or gk
    need_m = fwd or need_s
    pbuf = q.new_empty(n, c, pc, fh, fw) if need_z else None
    sbuf = q.new_zeros(n, c, pc, fh, fw) if need_s else None
    mbuf = mixing.new_empty(n, npair, plan.th, plan.tw, 2) if need_m else None
    if need_m and b % 2:
        mbuf[:, -1, :, :, 1] = 0  # the odd kernel's pair partner is a zero kernel with a zero map
    last_rc = (plan.th, plan.tw)
    for r0, c0, rows, cols in plan.tiles():
        if need_m:  # interleave the pair maps (m_2p, m_2p+1) contiguously: strided maps are ~50x slower
            mt = mbuf[:, :, :rows, :cols]
            mt[..., 0].copy_(mixing[:, 0::2, r0 : r0 + rows, c0 : c0 + cols])
            mt[:, : b // 2, :, :, 1].copy_(mixing[:, 1::2, r0 : r0 + rows, c0 : c0 + cols])
        if x is not None and (need_z or gk):
            xf = torch.fft.fft2(x[..., r0 : r0 + fh, c0 : c0 + fw])  # [N, C, fh, fw]
            xc = xf.conj().resolve_conj() if gk else None
        if v is not None:
            vt = v[..., r0 : r0 + rows, c0 : c0 + cols]
        if need_s and (rows, cols) != last_rc:
            sbuf.zero_()  # a smaller tile must see zeros outside its rows×cols
        last_rc = (rows, cols)
        first = True
        for p0 in range(0, npair, pc):
            p1 = min(npair, p0 + pc)
            m = p1 - p0
            if need_z:
                torch.mul(xf.unsqueeze(2), q[:, None, p0:p1], out=pbuf[:, :, :m])
                z = torch.fft.ifft2(pbuf[:, :, :m])  # (out= would add a copy)
                zr = torch.view_as_real(z)[..., :rows, :cols, :]  # [N, C, m, rows, cols, 2]
                if fwd:
                    a = acc[:, :, :rows, :cols]
                    for i in range(m):
                        if first:
                            torch.mul(zr[:, :, i], mt[:, None, p0 + i], out=a)
                            first = False
                        else:
                            a.addcmul_(zr[:, :, i], mt[:, None, p0 + i])
                if gm:
                    g = gm_pairs[:, p0:p1, r0 : r0 + rows, c0 : c0 + cols]
                    torch.mul(zr[:, 0], vt[:, 0, None, :, :, None], out=g)
                    for ci in range(1, c):
                        g.addcmul_(zr[:, ci], vt[:, ci, None, :, :, None])
            if need_s:
                s = sbuf[:, :, :m]
                sr = torch.view_as_real(s)[..., :rows, :cols, :]
                torch.mul(vt[:, :, None, :, :, None], mt[:, None, p0:p1], out=sr)
                sf = torch.fft.fft2(s)
                if adj:
                    for i in range(m):
                        if p0 + i == 0:
                            torch.mul(sf[:, :, i], qc[:, None, 0], out=acc_a)
                        else:
                            acc_a.addcmul_(sf[:, :, i], qc[:, None, p0 + i])
                if gk:
                    for ci in range(c):
                        acc_k[:, p0:p1].addcmul_(sf[:, ci], xc[:, ci, None])
        if fwd:
            a = acc[:, :, :rows, :cols]
            torch.add(a[..., 0], a[..., 1], out=out["y"][..., r0 : r0 + rows, c0 : c0 + cols])
        if adj:
            full = torch.fft.ifft2(acc_a).real[..., : rows + k - 1, : cols + k - 1]
            out["a"][..., r0 : r0 + rows + k - 1, c0 : c0 + cols + k - 1] += full
    if gk:  # corr = ifft2(conj(acc_k)) = g_2p - i g_2p+1, only lags 0..K-1 are needed
        corr = torch.fft.ifft(acc_k.conj(), dim=-1)[..., :k]
        corr = torch.fft.ifft(corr, dim=-2)[..., :k, :]
        gkr = torch.stack((corr.real, -corr.imag), 2).flatten(1, 2)  # [N, 2P, K, K]
        out["gk"] = gkr[:, :b]
    if gm:
        out["gm"] = gm_pairs.movedim(-1, 2).flatten(1, 2)[:, :b]
    return out


class _ReblurFn(torch.autograd.Function):
    """FFT re-blur; backward = tiled adjoint (sharp) and correlations (kernels, mixing), exact."""

    @staticmethod
    def forward(ctx, sharp: Tensor, kernels: Tensor, mixing: Tensor, padding: str) -> Tensor:
        ctx.save_for_backward(sharp, kernels, mixing)
        ctx.padding = padding
        k = kernels.shape[-1]
        plan = _Plan(*mixing.shape[-2:], k, sharp.device)
        return _tile_pass(plan.extend(_pad(sharp, k, padding)), None, kernels, mixing, plan, fwd=True)["y"]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        sharp, kernels, mixing = ctx.saved_tensors
        need_u, need_k, need_m = ctx.needs_input_grad[:3]
        k, padding = kernels.shape[-1], ctx.padding
        ho, wo = mixing.shape[-2:]
        plan = _Plan(ho, wo, k, sharp.device)
        x = plan.extend(_pad(sharp, k, padding)) if (need_k or need_m) else None
        res = _tile_pass(x, grad, kernels, mixing, plan, adj=need_u, gk=need_k, gm=need_m)
        grad_u = _pad_adjoint(res["a"][..., : ho + k - 1, : wo + k - 1], k, padding) if need_u else None
        return grad_u, res.get("gk"), res.get("gm"), None


class _ReblurAdjointFn(torch.autograd.Function):
    """FFT adjoint; its backward is the forward map (blurry) and the same correlations (kernels, mixing)."""

    @staticmethod
    def forward(ctx, blurry: Tensor, kernels: Tensor, mixing: Tensor, padding: str) -> Tensor:
        ctx.save_for_backward(blurry, kernels, mixing)
        ctx.padding = padding
        k = kernels.shape[-1]
        ho, wo = mixing.shape[-2:]
        plan = _Plan(ho, wo, k, blurry.device)
        a = _tile_pass(None, blurry, kernels, mixing, plan, adj=True)["a"]
        return _pad_adjoint(a[..., : ho + k - 1, : wo + k - 1], k, padding)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        blurry, kernels, mixing = ctx.saved_tensors
        need_v, need_k, need_m = ctx.needs_input_grad[:3]
        k, padding = kernels.shape[-1], ctx.padding
        plan = _Plan(*mixing.shape[-2:], k, blurry.device)
        x = plan.extend(_pad(grad, k, padding))
        res = _tile_pass(x, blurry, kernels, mixing, plan, fwd=need_v, gk=need_k, gm=need_m)
        return res.get("y"), res.get("gk"), res.get("gm"), None


def _compute_dtype(*tensors: Tensor) -> torch.dtype | None:
    """float32 for reduced-precision inputs (no half-precision FFT on CPU), else None (keep)."""
    return None if tensors[0].dtype in (torch.float32, torch.float64) else torch.float32


def reblur(sharp: Tensor, kernels: Tensor, mixing: Tensor, padding: str = "reflect") -> Tensor:
    """Space-varying re-blur ``v_c = sum_b m_b * (u_c ⋆ k_b)`` (``⋆`` = ``F.conv2d`` correlation).

    Computed with tiled overlap-save FFTs (see the engine notes above); equals :func:`reblur_reference` to
    float rounding and is differentiable in all three inputs (exact, FFT-based backward).

    Args:
        sharp: [N, C, H, W] sharp image.
        kernels: [N, B, K, K] kernel basis (shared by all channels, need not sum to 1).
        mixing: [N, B, Ho, Wo] mixing maps at the output size (H×W, or (H-K+1)×(W-K+1) for "valid").
        padding: one of ``PADDINGS``; see the module docstring for the conventions.

    Returns:
        [N, C, Ho, Wo] blurry image.
    """
    _check(tuple(sharp.shape[-2:]), sharp, kernels, mixing, padding, "sharp")
    cd = _compute_dtype(sharp)
    if cd is not None:
        return _ReblurFn.apply(sharp.to(cd), kernels.to(cd), mixing.to(cd), padding).to(sharp.dtype)
    return _ReblurFn.apply(sharp, kernels, mixing, padding)


def reblur_adjoint(blurry: Tensor, kernels: Tensor, mixing: Tensor, padding: str = "reflect") -> Tensor:
    """Exact adjoint ``A^T`` of ``u -> reblur(u, kernels, mixing, padding)``: ``<A u, v> = <u, A^T v>``.

    ``A^T v = P^T sum_b k_b * (m_b v)`` (full convolution, then the padding adjoint ``P^T`` folds the padded
    values back onto the pixels they copy). ``blurry`` is [N, C, Ho, Wo]; returns the sharp size: Ho×Wo for the
    padded modes, (Ho + K - 1)×(Wo + K - 1) for "valid". Differentiable in all three inputs.
    """
    if blurry.dim() != 4:
        raise ValueError(f"blurry must be [N, C, Ho, Wo], got shape {tuple(blurry.shape)}")
    k = kernels.shape[-1] if kernels.dim() == 4 else 1
    ho, wo = blurry.shape[-2:]
    sharp_hw = (ho + k - 1, wo + k - 1) if padding == "valid" else (ho, wo)
    _check(sharp_hw, blurry, kernels, mixing, padding, "blurry")
    cd = _compute_dtype(blurry)
    if cd is not None:
        out = _ReblurAdjointFn.apply(blurry.to(cd), kernels.to(cd), mixing.to(cd), padding)
        return out.to(blurry.dtype)
    return _ReblurAdjointFn.apply(blurry, kernels, mixing, padding)


# --------------------------------------------------------------------------------------- pixel kernels
def pixel_kernels(kernels: Tensor, mixing: Tensor, ys: Tensor, xs: Tensor) -> Tensor:
    """Per-pixel kernels ``k_x = sum_b m_b(x) k_b`` at chosen output pixels.

    ``reblur(u)[n, c, y, x] == (pixel_kernels(...)[n, p] * patch).sum()`` where ``patch`` is the K×K window of
    the (padded) sharp image whose top-left corner is (y, x), i.e. the same correlation convention.

    Args:
        kernels: [N, B, K, K]; mixing: [N, B, H, W]; ys, xs: [P] or [N, P] integer pixel coordinates.

    Returns:
        [N, P, K, K]; only the P requested kernels are formed.
    """
    if kernels.dim() != 4 or mixing.dim() != 4 or kernels.shape[:2] != mixing.shape[:2]:
        raise ValueError(
            f"kernels [N, B, K, K] and mixing [N, B, H, W] must agree on N and B, got "
            f"{tuple(kernels.shape)} and {tuple(mixing.shape)}"
        )
    if ys.shape != xs.shape or ys.dim() not in (1, 2) or (ys.dim() == 2 and ys.shape[0] != mixing.shape[0]):
        raise ValueError(f"ys and xs must both be [P] or [N, P], got {tuple(ys.shape)} and {tuple(xs.shape)}")
    if ys.dtype.is_floating_point or xs.dtype.is_floating_point:
        raise ValueError("ys and xs must be integer tensors")
    n, b, h, w = mixing.shape
    if ys.numel() and (ys.min() < 0 or ys.max() >= h or xs.min() < 0 or xs.max() >= w):
        raise ValueError(f"pixel coordinates out of range for mixing of size {h}x{w}")
    idx = (ys.long() * w + xs.long()).to(mixing.device)
    idx = idx.expand(n, -1) if idx.dim() == 1 else idx
    m = mixing.flatten(2).gather(2, idx.unsqueeze(1).expand(n, b, -1))  # [N, B, P]
    return torch.einsum("nbp,nbij->npij", m, kernels)
