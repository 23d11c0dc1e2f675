"""FFT engine of :mod:`blurbench.ops.reblur`: tiled overlap-save correlations, two real outputs per complex
transform, helper threads on CPU. Also the padding conventions and their exact adjoints.

Everything here is private to :mod:`blurbench.ops.reblur` (use ``reblur``/``reblur_adjoint``). The engine has
three knobs, chosen per problem by :mod:`blurbench.ops.reblur_autotune`: the transform (OpenCV's DFT or
``torch.fft``), helper threads or the calling thread, and the largest FFT tile side.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from blurbench.ops import dft


def pad_sizes(kernel_size: int) -> tuple[int, int]:
    """(before, after) padding of one spatial dimension for the padded modes: ((K - 1) // 2, K // 2)."""
    return (kernel_size - 1) // 2, kernel_size // 2


# ---------------------------------------------------------------------------------------------- padding
def pad(x: Tensor, k: int, padding: str) -> Tensor:
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


def pad_adjoint(y: Tensor, k: int, padding: str) -> Tensor:
    """Exact adjoint of :func:`pad` (sum of the padded copies folded onto their sources)."""
    if padding == "valid":
        return y
    before, after = pad_sizes(k)
    return _fold_dim(_fold_dim(y, before, after, padding, -2), before, after, padding, -1)


# ------------------------------------------------------------------------------------------------ engine
# Overlap-save FFT correlation on tiles, two real outputs per complex transform:
#
# * Tiles: the output is cut into th×tw tiles; tile (i, j) reads the (th+K-1)×(tw+K-1) input window at
#   (i*th, j*tw), transformed at the fast size fh×fw >= that window. Circular correlation of that size is
#   exact on the th×tw outputs. The largest tile side is a knob of the path: on CPU, tiles of at most ~320²
#   keep the transforms cache-sized (measured on the AMD EPYC: a 768×1344 transform costs ~3x more per pixel
#   than a <= 320² one) and bound the memory; with 320 a 720p image is 3×5 tiles of 280×288, the training
#   crop (256² outputs, K = 33) one 288² tile. Other devices: one tile (TILE_ONE).
# * Kernel pairs: with the "pair spectrum" Q_p(w) = sum_j (k_2p + i k_2p+1)[j] e^{+i w.j},
#   ifft2(fft2(u) Q_p) = (u ⋆ k_2p) + i (u ⋆ k_2p+1) for real u (the code stores Q_p / (fh fw)), so the
#   C·B real correlations take C·ceil(B/2) complex inverse transforms (half as many as real ones); the
#   forward pairs channels for an odd B's last kernel, ifft2((X_c + i X_c+1) K) = u_c ⋆ k + i u_c+1 ⋆ k,
#   so it takes ceil(C·B/2).
# * Adjoint / gradients: with s = m_2p v + i m_2p+1 v, Re ifft2(fft2(s) conj(Q_p)) summed over p is
#   sum_b k_b * (m_b v) (full convolution), and ifft2(conj(fft2(s)) fft2(u)) at lags 0..K-1 is
#   g_2p - i g_2p+1 with g_b = the kernel gradient. Each tile's adjoint is overlap-added.
# * Transforms: blurbench.ops.dft (OpenCV's DFT or torch.fft, a knob: either can be the faster one on a
#   given processor), unnormalised and in place where the input is not needed afterwards (OpenCV only).
# * Threads (CPU, a knob): the work is split over torch.get_num_threads() helper threads whose ops are all
#   serial (their own OpenMP thread count is set to 1): see tile_pass. The forward pulls items from one
#   list (_forward_pipelined); the backward passes split the kernel pairs statically. Without helpers, the
#   calling thread sweeps the tiles with torch's own intra-op threads.
TILE_DEFAULT = 320  # largest FFT tile side on CPU unless told: per output pixel 128–320 cost about the same,
# fewer tiles cost less CPU in total (measured 16.5 vs 19.7 ms at 256² for 320 vs 192 on the AMD EPYC)
TILE_ONE = 4096  # other devices: effectively one tile
_CHUNK_TRANSFORMS = 3  # complex transforms per chunk of the serial pass: one kernel pair × 3 channels stays in cache
_SPLIT_PAIRS = 2  # one tile: the last kernel pairs as one item per channel (the helpers finish together)
RUNS: Counter = Counter()  # how each pass ran: "serial", "pipelined" (threaded forward), "split" (threaded)
_POOL: ThreadPoolExecutor | None = None
_POOL_KEY: tuple[int, int] | None = None
_POOL_LOCK = threading.Lock()
_OPENMP = None  # ctypes handle of ATen's OpenMP runtime; False if not found


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


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


class Plan:
    """Tiling of an Ho×Wo output for kernel size K with FFT sides of at most ``tile`` (at least the fast size
    >= 2K); input windows live in a zero-extended (hx, wx) canvas. ``opencv``: transforms through OpenCV."""

    def __init__(self, ho: int, wo: int, k: int, tile: int = TILE_DEFAULT, opencv: bool = False):
        self.ho, self.wo, self.k, self.opencv = ho, wo, k, opencv
        self.nh, self.th, self.fh = _plan_dim(ho, k, tile)
        self.nw, self.tw, self.fw = _plan_dim(wo, k, tile)
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


def real_spectrum(x: Tensor, out: Tensor | None = None, opencv: bool = False) -> Tensor:
    """``torch.fft.fft2(x)`` of a real ``x`` (the full, two-sided spectrum). With OpenCV, a complex transform
    of ``x + 0i`` (0.16 ms at 288², one thread); else the half spectrum of ``rfft2`` and its conjugate
    symmetry ``X[k1, k2] = conj X[-k1, -k2]`` (0.20 ms; ``torch.fft.fft2`` of a real tensor makes it complex
    and runs MKL's full complex transform, 0.25 ms; both on the AMD EPYC)."""
    if opencv and dft.opencv_supports(x.device, _complex_dtype(x.dtype)):
        xc = torch.complex(x, torch.zeros_like(x))
        return dft.dft2(xc, out=xc if out is None else out, opencv=True)
    h = torch.fft.rfft2(x)
    fw = x.shape[-1]
    half = h.shape[-1]  # fw // 2 + 1
    if out is None:
        out = h.new_empty(h.shape[:-1] + (fw,))
    out[..., :half] = h
    mirror = h[..., 1 : fw - half + 1].flip(-1)  # columns fw - k2 for k2 = half .. fw - 1
    out[..., 0, half:] = mirror[..., 0, :].conj()
    out[..., 1:, half:] = mirror[..., 1:, :].flip(-2).conj()
    return out


def _pair_spectra(kernels: Tensor, fh: int, fw: int, opencv: bool = False) -> Tensor:
    """Q_p(w) / (fh fw) with Q_p(w) = sum_j (k_2p + i k_2p+1)[j] e^{+i w.j} on the fh×fw grid:
    [N, ceil(B/2), fh, fw] complex. The 1/(fh fw) of the inverse transforms is folded in here (once per pair)
    so that the many unnormalised inverse transforms of the products skip their scaling pass (~7% faster)."""
    n, b, k = kernels.shape[0], kernels.shape[1], kernels.shape[-1]
    cdtype = _complex_dtype(kernels.dtype)
    scale = 1.0 / (fh * fw)
    if opencv and dft.opencv_supports(kernels.device, cdtype):
        # zero-padded pairs, one full transform each: OpenCV's full 288² transform (0.09 ms) costs less than
        # torch's pruned one (short axis first, 0.15 ms) on the AMD EPYC
        q = kernels.new_zeros(n, (b + 1) // 2, fh, fw, dtype=cdtype)
        qr = torch.view_as_real(q)[:, :, :k, :k]
        torch.mul(kernels[:, 0::2], scale, out=qr[..., 0])
        torch.mul(kernels[:, 1::2], scale, out=qr[:, : b // 2, ..., 1])
        return dft.dft2(q, inverse=True, out=q, opencv=True)
    if b % 2:
        kernels = F.pad(kernels, (0, 0, 0, 0, 0, 1))
    kc = torch.complex(kernels[:, 0::2], kernels[:, 1::2])
    # the normalised inverse DFT is (1/n) sum with e^{+iwj}; the short kernel axis first (pruned first stage)
    return torch.fft.ifft(torch.fft.ifft(kc, n=fh, dim=-2), n=fw, dim=-1)


def _tile_pass_serial(
    x: Tensor | None,
    v: Tensor | None,
    kernels: Tensor,
    mixing: Tensor,
    plan: Plan,
    *,
    fwd: bool = False,
    adj: bool = False,
    gk: bool = False,
    gm: bool = False,
) -> dict[str, Tensor]:
    """One sweep over the tiles (in the calling thread) computing any of (u = x, the zero-extended padded
    sharp side):

    - ``fwd``: ``y = sum_b m_b (u ⋆ k_b)`` [N, C, Ho, Wo]
    - ``adj``: ``a = sum_b k_b * (m_b v)`` on the canvas [N, C, hx, wx] (crop to Ho+K-1, Wo+K-1 outside)
    - ``gk``:  ``d/dk_b <v, y> = sum_c corr(u_c, m_b v_c)`` at lags 0..K-1, [N, B, K, K]
    - ``gm``:  ``d/dm_b <v, y> = sum_c v_c (u_c ⋆ k_b)``, [N, B, Ho, Wo]
    """
    n, b = mixing.shape[:2]
    c = (x if x is not None else v).shape[1]
    k, fh, fw = plan.k, plan.fh, plan.fw
    npair = (b + 1) // 2
    # one tile: each pair spectrum is used once, so make it per chunk (cache-hot, small buffers)
    q_all = _pair_spectra(kernels, fh, fw, plan.opencv) if plan.nh * plan.nw > 1 else None  # [N, P, fh, fw]
    cdtype = _complex_dtype(mixing.dtype)
    pc = max(1, min(npair, -(-_CHUNK_TRANSFORMS // (n * c))))
    out: dict[str, Tensor] = {}
    if fwd:
        out["y"] = mixing.new_empty(n, c, plan.ho, plan.wo)
        acc = mixing.new_empty(n, c, plan.th, plan.tw, 2)
    if adj:
        out["a"] = mixing.new_zeros(n, c, plan.hx, plan.wx)
        acc_a = mixing.new_empty(n, c, fh, fw, dtype=cdtype)
    if gk:
        acc_k = mixing.new_zeros(n, npair, fh, fw, dtype=cdtype)
    if gm:
        gm_pairs = mixing.new_empty(n, npair, plan.ho, plan.wo, 2)
    need_z = fwd or gm
    need_s = adj or gk
    need_m = fwd or need_s
    pbuf = mixing.new_empty(n, c, pc, fh, fw, dtype=cdtype) if need_z else None
    sbuf = mixing.new_zeros(n, c, pc, fh, fw, dtype=cdtype) if need_s else None
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
            xf = real_spectrum(x[..., r0 : r0 + fh, c0 : c0 + fw], opencv=plan.opencv)  # [N, C, fh, fw]
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
            q = q_all[:, p0:p1] if q_all is not None else _pair_spectra(kernels[:, 2 * p0 : 2 * p1], fh, fw,
                                                                                    plan.opencv)
            if need_z:
                torch.mul(xf.unsqueeze(2), q.unsqueeze(1), out=pbuf[:, :, :m])
                z = dft.dft2_overwrite(pbuf[:, :, :m], inverse=True, opencv=plan.opencv)
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
                sf = dft.dft2(s, opencv=plan.opencv)  # out of place: s keeps its zeros outside rows×cols
                if adj:
                    qc = q.conj().resolve_conj()
                    for i in range(m):
                        if p0 + i == 0:
                            torch.mul(sf[:, :, i], qc[:, None, i], out=acc_a)
                        else:
                            acc_a.addcmul_(sf[:, :, i], qc[:, None, i])
                if gk:
                    for ci in range(c):
                        acc_k[:, p0:p1].addcmul_(sf[:, ci], xc[:, ci, None])
        if fwd:
            a = acc[:, :, :rows, :cols]
            torch.add(a[..., 0], a[..., 1], out=out["y"][..., r0 : r0 + rows, c0 : c0 + cols])
        if adj:
            full = dft.dft2_overwrite(acc_a, inverse=True, opencv=plan.opencv).real[..., : rows + k - 1, : cols + k - 1]
            out["a"][..., r0 : r0 + rows + k - 1, c0 : c0 + cols + k - 1] += full
    if gk:  # corr = ifft2(conj(acc_k)) = g_2p - i g_2p+1, only lags 0..K-1 are needed
        corr = torch.fft.ifft(acc_k.conj(), dim=-1)[..., :k]
        corr = torch.fft.ifft(corr, dim=-2)[..., :k, :]
        gkr = torch.stack((corr.real, -corr.imag), 2).flatten(1, 2)  # [N, 2P, K, K]
        out["gk"] = gkr[:, :b]
    if gm:
        out["gm"] = gm_pairs.movedim(-1, 2).flatten(1, 2)[:, :b]
    return out


def _num_threads() -> int:
    return torch.get_num_threads()


def _find_openmp():
    """The OpenMP runtime ATen runs on (to give our helper threads one OpenMP thread each), or None (found
    through /proc/self/maps: Linux only)."""
    if "OpenMP" not in torch.__config__.parallel_info():
        return None
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "libgomp" in line or "libomp" in line or "libiomp" in line}
    except OSError:
        return None
    paths = {p for p in paths if p.startswith("/")}
    if len(paths) != 1:
        return None
    try:
        lib = ctypes.CDLL(paths.pop())
        lib.omp_set_num_threads.argtypes = [ctypes.c_int]
        return lib
    except (OSError, AttributeError):
        return None


def _init_helper(openmp) -> None:
    """Make every op of this helper thread serial: no OpenMP team, no idle waits at op boundaries."""
    torch.zeros(1 << 17).add_(1)  # ATen's lazy per-thread OpenMP init runs first (it would undo ours)
    openmp.omp_set_num_threads(1)  # thread-local ICV: only this helper thread is affected (MKL follows it)


def helpers_available() -> bool:
    """Whether the helper-thread paths can run in this process: they need ATen's OpenMP runtime, to make each
    helper's ops serial (without it only the calling-thread paths run)."""
    global _OPENMP
    with _POOL_LOCK:
        if _OPENMP is None:
            _OPENMP = _find_openmp() or False
        return bool(_OPENMP)


def _helper_pool(workers: int) -> ThreadPoolExecutor:
    """Process-wide pool of single-threaded helpers (recreated after a fork or a thread-count change)."""
    global _POOL, _POOL_KEY
    if not helpers_available():
        raise RuntimeError("reblur: the helper-thread path needs ATen's OpenMP runtime, which was not found")
    key = (os.getpid(), workers)
    with _POOL_LOCK:
        if _POOL is None or _POOL_KEY != key:
            if _POOL is not None and _POOL_KEY[0] == key[0]:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(workers, "blurbench-reblur", initializer=_init_helper, initargs=(_OPENMP,))
            _POOL_KEY = key
        return _POOL


def _pass_group(u, padding, v, kernels, mixing, plan, ops) -> dict[str, Tensor]:
    """Pad the sharp side and sweep the tiles for one group of kernels (in the current thread)."""
    with torch.no_grad():  # grad mode is thread-local: helpers must not record graphs
        x = plan.extend(pad(u, plan.k, padding)) if u is not None else None
        return _tile_pass_serial(x, v, kernels, mixing, plan, **ops)


def _combine(results: list[dict[str, Tensor]], plan: Plan, padding: str) -> dict[str, Tensor]:
    """Add the groups' outputs (y, a), concatenate their gradients (gk, gm), fold the adjoint's padding."""
    with torch.no_grad():
        out = {}
        for key in results[0]:
            if key in ("y", "a"):
                out[key] = results[0][key]
                for r in results[1:]:
                    out[key] += r[key]
            else:
                out[key] = torch.cat([r[key] for r in results], 1) if len(results) > 1 else results[0][key]
        if "a" in out:
            k = plan.k
            out["a"] = pad_adjoint(out["a"][..., : plan.ho + k - 1, : plan.wo + k - 1], k, padding)
        return out


class _DependencyFailed(RuntimeError):
    """A forward item needed a preparation that raised in another helper (that error is the one re-raised)."""


_WORKSPACE = threading.local()  # per helper thread: buffers reused from call to call
_WORKSPACE_MAX_BYTES = 1 << 25  # larger buffers are allocated per call (bounds what the helpers keep)


def _workspace(name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """An uninitialised buffer of this helper thread, reused by its next call with the same shape, dtype and
    device: fresh MB-sized buffers are returned to the OS and page-faulted in again on every call (measured
    at 256²: ~380 page faults per forward without this, 16 with it)."""
    # inference tensors cannot be updated in place outside inference mode (and vice versa for saving)
    key = (tuple(shape), like.dtype, like.device, torch.is_inference_mode_enabled())
    cached = getattr(_WORKSPACE, name, None)
    if cached is None or cached[0] != key:
        buf = like.new_empty(shape)
        if buf.numel() * buf.element_size() > _WORKSPACE_MAX_BYTES:
            return buf
        cached = (key, buf)
        setattr(_WORKSPACE, name, cached)
    return cached[1]


def _interleaved_maps(mixing: Tensor, p: int, region: tuple[int, int, int, int] | None = None) -> Tensor:
    """The maps (m_2p, m_2p+1) of kernel pair p interleaved, [N, 1, rows, cols, 2] (m_2p+1 = 0 past the last
    kernel): the products with the real views of the complex transforms need contiguous maps (strided ones
    are ~50x slower); ``torch.complex`` interleaves ~2x faster than two strided copies."""
    m = mixing[:, 2 * p : 2 * p + 2]
    if region is not None:
        r0, c0, rows, cols = region
        m = m[..., r0 : r0 + rows, c0 : c0 + cols]
    im = m[:, 1:] if m.shape[1] == 2 else torch.zeros_like(m)
    return torch.view_as_real(torch.complex(m[:, :1], im))


def _forward_pipelined(u: Tensor, padding: str, kernels: Tensor, mixing: Tensor, plan: Plan,
                       pool: ThreadPoolExecutor, workers: int) -> Tensor:
    """The forward map on ``workers`` helpers pulling items from one shared list, with no barrier between
    the preparations and the products (each helper runs one task per call).

    Preparations: the padded input (several tiles), the tile spectra (one tile: per channel, so that the
    products start early), the pair spectra ``Q_p`` shared by several items (one tile: with the pair's
    interleaved maps). Products: ``m_2p (u ⋆ k_2p) + m_2p+1 (u ⋆ k_2p+1)`` of one (tile, pair, channel
    range), accumulated under a lock into the tile's one accumulator (re and im slots, [N, C, rows, cols, 2])
    in the order of the pairs, whichever helper finishes first (so the result is the same, bit for bit, from
    run to run: an item that finished before its predecessor waits for it); the item that completes a (tile,
    channel) adds its two slots into the output. One tile: all channels of
    a pair per item (its ``Q_p`` made in the item: batched transforms, fewer ops), except the last
    ``_SPLIT_PAIRS`` pairs, one channel per item, so that the helpers finish together. With an odd number
    of kernels the last pair has no partner kernel, so its transforms would carry one real output each:
    there two channels share one transform instead, ``ifft2((X_c + i X_c+1) Q) = u_c ⋆ k + i u_c+1 ⋆ k``
    (C·B/2 rounded up transforms in all). An item waits for the preparations it needs and for the previous
    pair's products of its channels, which are listed (claimed) earlier, so they are running or done: no
    deadlock (a failed item wakes the waiting ones, which stop).

    Measured on the AMD EPYC (K = 33, B = 25, C = 3, 2 threads, each call after a reference call, interleaved)
    against per-helper accumulators summed at the end, one transform per channel for the last kernel and
    ``fft2`` of the real input: 256² "reflect" 9.09 -> 8.71 ms, 288² "valid" 8.94 -> 8.61 ms (the tail from the
    last item to the return 0.4 -> 0.15 ms; 39 -> 38 transforms). Then the transforms from torch.fft (MKL) to
    OpenCV, in place, and the tile spectra in a buffer of the caller: 256² 8.88 -> 6.08 ms, 288² 8.82 -> 6.15 ms.
    """
    n, b = mixing.shape[:2]
    c = u.shape[1]
    fh, fw, k = plan.fh, plan.fw, plan.k
    npair = (b + 1) // 2
    tiles = list(plan.tiles())
    single = len(tiles) == 1
    # channel groups of the last pair: pairs of channels share a transform when that pair has one kernel
    odd_groups = [(c0, min(c, c0 + 2)) for c0 in range(0, c, 2)] if b % 2 else []
    done: dict = {}  # preparation key -> Event, set when it finished (even if it failed)
    val: dict = {}  # preparation key -> value (missing if it failed)

    def get(key):
        done[key].wait()
        if key not in val:
            raise _DependencyFailed(key)
        return val[key]

    # the helpers are woken first: their wake-up (~0.05-0.1 ms each here) overlaps the list's construction
    items: list = []  # (function, preparation key or None, keys it waits for)
    ready = threading.Event()
    counter = itertools.count()
    # inference mode is thread-local: under the caller's (e.g. Lightning's test loop) y and the shared spectrum
    # are inference tensors, which the helpers may only write in inference mode too
    inference = torch.is_inference_mode_enabled()

    def loop():
        ready.wait()
        state: dict = {}
        with torch.inference_mode(inference), torch.no_grad():
            while (i := next(counter)) < len(items):
                fn, key, deps = items[i]
                for d in deps:
                    get(d)
                if key is None:
                    try:
                        fn(state)
                    except BaseException:
                        with turn:  # products waiting for this one's turn give up
                            failed.append(True)
                            turn.notify_all()
                        raise
                    continue
                try:
                    fn()
                finally:
                    done[key].set()

    futures = [pool.submit(loop) for _ in range(workers)]

    def pair(p: int):  # (Q_p [N, 1, 1, fh, fw], interleaved maps of the whole output or None)
        q = _pair_spectra(kernels[:, 2 * p : 2 * p + 2], fh, fw, plan.opencv).unsqueeze(1)
        return q, (_interleaved_maps(mixing, p) if single else None)

    def prep_pad():
        val["pad"] = plan.extend(pad(u, k, padding))

    def prep_x_tile(t: int):
        r0, tc0 = tiles[t][:2]
        val["x", t] = real_spectrum(get("pad")[..., r0 : r0 + fh, tc0 : tc0 + fw], opencv=plan.opencv).unsqueeze(2)

    def prep_x_channel(ci: int):  # one tile: pad and transform one channel into the shared spectrum
        xs = val["x", 0]  # made below
        real_spectrum(plan.extend(pad(u[:, ci : ci + 1], k, padding)), out=xs[:, ci : ci + 1, 0], opencv=plan.opencv)
        val["xc", ci] = True

    def prep_pair(p: int):
        val["q", p] = pair(p) if p < npair - 1 or not odd_groups else (
            _pair_spectra(kernels[:, 2 * p :], fh, fw, plan.opencv).unsqueeze(1), None)

    # the tiles' accumulators (several tiles: made by their first product; one tile: a buffer of the calling
    # thread, which waits for the helpers, so a helper's next call cannot take it), and per (tile, channel)
    # the pairs added so far (the next product to add is that pair's; with none added, it assigns)
    acc: dict = {0: _workspace("acc", (n, c, plan.ho, plan.wo, 2), mixing)} if single else {}
    added = {(t, ci): 0 for t in range(len(tiles)) for ci in range(c)}
    y = mixing.new_empty(n, c, plan.ho, plan.wo)
    turn = threading.Condition()
    failed: list = []  # non-empty once a product item raised

    def accumulate(t: int, p: int, chans: range, add):
        """Run ``add(acc, first)`` (``first``: assign, not add) on the tile's accumulator when pair ``p`` is the
        next one of its channels (a fixed order of the sums); then write the completed channels."""
        rows, cols = tiles[t][2:]
        with turn:
            turn.wait_for(lambda: failed or all(added[t, ci] == p for ci in chans))
            if failed:
                raise _DependencyFailed(("turn", t, p))
            if t not in acc:
                acc[t] = mixing.new_empty(n, c, rows, cols, 2)
            a = acc[t]
            add(a, p == 0)
            complete = []
            for ci in chans:
                added[t, ci] += 1
                if added[t, ci] == npair:
                    complete.append(ci)
            if not single and all(added[t, cj] == npair for cj in range(c)):
                del acc[t]  # the last reference is ours: the tile's memory goes with this item
            turn.notify_all()
        r0, tc0 = tiles[t][:2]
        for ci in complete:  # nothing else writes these slots any more
            torch.add(a[:, ci, ..., 0], a[:, ci, ..., 1], out=y[:, ci, r0 : r0 + rows, tc0 : tc0 + cols])

    def product(t: int, p: int, c0: int, c1: int, state: dict):
        rows, cols = tiles[t][2:]
        xf = (val["x", 0] if single else get(("x", t)))[:, c0:c1]
        q, mt = get(("q", p)) if ("q", p) in done else pair(p)
        if "pbuf" not in state:
            state["pbuf"] = _workspace("pbuf", (n, c, 1, fh, fw), xf)
        prod = torch.mul(xf, q, out=state["pbuf"][:, : c1 - c0])
        zr = torch.view_as_real(dft.dft2_overwrite(prod, inverse=True, opencv=plan.opencv))[:, :, 0, :rows, :cols, :]
        if mt is None:  # several tiles: this pair's maps on this tile
            mt = _interleaved_maps(mixing, p, tiles[t])

        def add(a, first):
            if first:
                torch.mul(zr, mt, out=a[:, c0:c1])
            else:
                a[:, c0:c1].addcmul_(zr, mt)

        accumulate(t, p, range(c0, c1), add)

    def product_odd(t: int, c0: int, c1: int, state: dict):
        """The last (single-kernel) pair for channels c0 and c0+1 in one transform (or c0 alone)."""
        rows, cols = tiles[t][2:]
        xf = (val["x", 0] if single else get(("x", t)))[:, c0:c1]
        q = get(("q", npair - 1))[0]
        if "pbuf" not in state:
            state["pbuf"] = _workspace("pbuf", (n, c, 1, fh, fw), xf)
        buf = state["pbuf"][:, :1]
        if c1 - c0 == 2:
            torch.add(xf[:, :1], xf[:, 1:], alpha=1j, out=buf)
            buf.mul_(q)
        else:
            torch.mul(xf, q, out=buf)
        z = dft.dft2_overwrite(buf, inverse=True, opencv=plan.opencv)
        z = torch.view_as_real(z)[:, 0, 0, :rows, :cols, :]  # [N, rows, cols, 2]
        r0, tc0 = tiles[t][:2]
        m = mixing[:, b - 1, r0 : r0 + rows, tc0 : tc0 + cols]

        def add(a, first):
            for i in range(c1 - c0):  # channel c0 + i is the real (i = 0) or imaginary (i = 1) part
                if first:
                    a[:, c0 + i, ..., 1].zero_()
                    torch.mul(z[..., i], m, out=a[:, c0 + i, ..., 0])
                else:
                    a[:, c0 + i, ..., 0].addcmul_(z[..., i], m)

        accumulate(t, npair - 1, range(c0, c1), add)

    try:
        if single:
            # a buffer of the calling thread, like the accumulator (fresh memory is page-faulted in by the helpers)
            cdtype = _complex_dtype(mixing.dtype)
            val["x", 0] = _workspace("xspec", (n, c, 1, fh, fw), mixing.new_empty(0, dtype=cdtype))
            split = min(npair, _SPLIT_PAIRS) if c > 1 else 0
            full = npair - split  # pairs with one item for all channels
            xdeps = [("xc", ci) for ci in range(c)]
            items += [(partial(prep_x_channel, ci), ("xc", ci), []) for ci in range(c)]
            items += [(partial(prep_pair, p), ("q", p), []) for p in range(full, npair)]
            items += [(partial(product, 0, p, 0, c), None, xdeps) for p in range(full)]
            split_pairs = range(full, npair - 1) if odd_groups and split else range(full, npair)
            items += [(partial(product, 0, p, ci, ci + 1), None, [("xc", ci), ("q", p)])
                      for p in split_pairs for ci in range(c)]
            if odd_groups and split:
                items += [(partial(product_odd, 0, c0, c1), None, [("xc", ci) for ci in range(c0, c1)] +
                           [("q", npair - 1)]) for c0, c1 in odd_groups]
        else:
            cc = c if len(tiles) * npair >= 8 * workers else 1
            full = npair - 1 if odd_groups else npair
            items += [(prep_pad, "pad", [])] + [(partial(prep_pair, p), ("q", p), []) for p in range(npair)]
            items += [(partial(prep_x_tile, 0), ("x", 0), ["pad"])]
            for t in range(len(tiles)):
                cons = [(partial(product, t, p, c0, min(c, c0 + cc)), None, [("q", p), ("x", t)])
                        for p in range(full) for c0 in range(0, c, cc)]
                cons += [(partial(product_odd, t, c0, c1), None, [("q", npair - 1), ("x", t)])
                         for c0, c1 in (odd_groups if full < npair else [])]
                nxt = [(partial(prep_x_tile, t + 1), ("x", t + 1), ["pad"])] if t + 1 < len(tiles) else []
                items += cons[: len(cons) // 2] + nxt + cons[len(cons) // 2 :]
        for _, key, _ in items:
            if key is not None:
                done[key] = threading.Event()
    except BaseException:
        items.clear()  # the helpers find nothing to do and return
        raise
    finally:
        ready.set()
    errors = [e for e in (f.exception() for f in futures) if e is not None]
    if errors:  # the original error, not a helper that stopped because of it
        raise next((e for e in errors if not isinstance(e, _DependencyFailed)), errors[0])
    return y


def tile_pass(u: Tensor | None, padding: str, v: Tensor | None, kernels: Tensor, mixing: Tensor, plan: Plan,
              threaded: bool = False, **ops: bool) -> dict[str, Tensor]:
    """Pad ``u`` (the sharp side), run :func:`_tile_pass_serial`, fold the adjoint output (``a`` is returned
    at the sharp size), in the calling thread. ``threaded`` (CPU, needs :func:`helpers_available`): the work
    goes to ``torch.get_num_threads()`` single-threaded helper threads, which also do the padding and the
    final sums: the forward alone as a list of items they pull (:func:`_forward_pipelined`), the other passes
    as a static split of the kernel pairs (in the calling thread if there is one pair only).

    The groups are independent (forward/adjoint outputs add up, kernel/mixing gradients concatenate). Each
    helper runs its chain of FFTs and products without OpenMP teams: ATen's 2-thread ops on these
    medium-sized tensors scale poorly and, on a busy machine, every op waits for its second thread to be
    scheduled (measured ~6 ms per op at load 2.6 on 2 cores, i.e. 10x slower than one thread).
    """
    b = mixing.shape[1]
    npair = (b + 1) // 2
    if threaded and mixing.device.type != "cpu":
        raise RuntimeError(f"reblur: the helper-thread path runs on CPU tensors only, got {mixing.device}")
    threads = _num_threads()
    if threaded and ops == {"fwd": True}:  # its items split channels and tiles too
        pool = _helper_pool(threads)
        with _POOL_LOCK:
            RUNS["pipelined"] += 1
        return {"y": _forward_pipelined(u, padding, kernels, mixing, plan, pool, threads)}
    groups = min(threads, npair)
    if not threaded or groups < 2:
        with _POOL_LOCK:
            RUNS["serial"] += 1
        return _combine([_pass_group(u, padding, v, kernels, mixing, plan, ops)], plan, padding)
    pool = _helper_pool(threads)
    with _POOL_LOCK:
        RUNS["split"] += 1
    cuts = [2 * (npair * i // groups) for i in range(groups)] + [b]
    futures = [pool.submit(_pass_group, u, padding, v, kernels[:, lo:hi], mixing[:, lo:hi], plan, ops)
               for lo, hi in zip(cuts[:-1], cuts[1:])]
    results = [f.result() for f in futures]
    return pool.submit(_combine, results, plan, padding).result()

