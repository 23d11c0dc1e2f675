"""FFT engine of :mod:`blurbench.ops.reblur`: tiled overlap-save correlations, two real outputs per complex
transform, helper threads on CPU. Also the padding conventions and their exact adjoints.

Everything here is private to :mod:`blurbench.ops.reblur` (use ``reblur``/``reblur_adjoint``); the module
constants are tuning knobs (tests shrink them to exercise many tiles and threads on small images).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch import Tensor


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
#   exact on the th×tw outputs. On CPU, tiles of at most 320² keep the transforms cache-sized (measured:
#   a 768×1344 transform costs ~3x more per pixel than a <= 320² one) and bound the memory; a 720p image
#   is 3×5 tiles of 280×288, the training crop (256² outputs, K = 33) one 288² tile.
# * Kernel pairs: with the "pair spectrum" Q_p(w) = sum_j (k_2p + i k_2p+1)[j] e^{+i w.j},
#   ifft2(fft2(u) Q_p) = (u ⋆ k_2p) + i (u ⋆ k_2p+1) for real u (the code stores Q_p / (fh fw)), so the
#   C·B real correlations take C·ceil(B/2) complex inverse transforms (also the fastest MKL path).
# * Adjoint / gradients: with s = m_2p v + i m_2p+1 v, Re ifft2(fft2(s) conj(Q_p)) summed over p is
#   sum_b k_b * (m_b v) (full convolution), and ifft2(conj(fft2(s)) fft2(u)) at lags 0..K-1 is
#   g_2p - i g_2p+1 with g_b = the kernel gradient. Each tile's adjoint is overlap-added.
# * Threads (CPU): the work is split over torch.get_num_threads() helper threads whose ops are all serial
#   (their own OpenMP thread count is set to 1): see tile_pass. The forward pulls (tile, pair) items
#   dynamically; the backward passes split the kernel pairs statically.
_TILE_MAX_CPU = 320  # largest FFT tile side on CPU: per output pixel 128–320 cost about the same, fewer
# tiles cost less CPU in total (measured 16.5 vs 19.7 ms at 256² for 320 vs 192)
_TILE_MAX_OTHER = 4096  # other devices: effectively one tile
_CHUNK_TRANSFORMS = 3  # complex transforms per batched FFT call: one kernel pair × 3 channels stays in cache
_PARALLEL_MIN_WORK = 1 << 20  # N·C·B·Ho·Wo above which the kernel pairs are split over helper threads
_DYNAMIC_FORWARD = True  # forward: helpers pull (tile, pair) items (else: a static split of the pairs)
_POOL: ThreadPoolExecutor | None = None
_POOL_KEY: tuple[int, int] | None = None
_POOL_LOCK = threading.Lock()
_OPENMP = None  # ctypes handle of ATen's OpenMP runtime; False if not found


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
    """Q_p(w) / (fh fw) with Q_p(w) = sum_j (k_2p + i k_2p+1)[j] e^{+i w.j} on the fh×fw grid:
    [N, ceil(B/2), fh, fw] complex. The 1/(fh fw) of the inverse transforms is folded in here (once per pair)
    so that the many ``ifft2(..., norm="forward")`` of the products skip their scaling pass (~7% faster)."""
    if kernels.shape[1] % 2:
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
    q_all = _pair_spectra(kernels, fh, fw) if plan.nh * plan.nw > 1 else None  # [N, P, fh, fw]
    cdtype = torch.complex128 if mixing.dtype == torch.float64 else torch.complex64
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
            q = q_all[:, p0:p1] if q_all is not None else _pair_spectra(kernels[:, 2 * p0 : 2 * p1], fh, fw)
            if need_z:
                torch.mul(xf.unsqueeze(2), q.unsqueeze(1), out=pbuf[:, :, :m])
                z = torch.fft.ifft2(pbuf[:, :, :m], norm="forward")  # (out= would add a copy)
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
            full = torch.fft.ifft2(acc_a, norm="forward").real[..., : rows + k - 1, : cols + k - 1]
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
    """The OpenMP runtime ATen runs on (to give our helper threads one OpenMP thread each), or None."""
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


def _helper_pool(workers: int) -> ThreadPoolExecutor | None:
    """Process-wide pool of single-threaded helpers (recreated after a fork or a thread-count change), or None
    if ATen's OpenMP runtime cannot be found (then the work stays in the calling thread)."""
    global _POOL, _POOL_KEY, _OPENMP
    key = (os.getpid(), workers)
    with _POOL_LOCK:
        if _OPENMP is None:
            _OPENMP = _find_openmp() or False
        if not _OPENMP:
            return None
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


def _forward_dynamic(u: Tensor, padding: str, kernels: Tensor, mixing: Tensor, plan: Plan,
                     pool: ThreadPoolExecutor, workers: int) -> Tensor:
    """The forward map on ``workers`` helpers that pull (tile, kernel pair) items from a shared counter, so
    that a helper slowed down by another process takes fewer items (a static split waits for the slowest).

    Phase 1 pads the input, transforms every tile, makes every pair spectrum (and, for one tile, interleaves
    the pair maps); phase 2
    accumulates ``m_2p (u ⋆ k_2p) + m_2p+1 (u ⋆ k_2p+1)`` per item into the helper's own tile accumulators;
    phase 3 adds the helpers' accumulators.
    """
    n, b = mixing.shape[:2]
    c = u.shape[1]
    fh, fw = plan.fh, plan.fw
    npair = (b + 1) // 2
    tiles = list(plan.tiles())

    def run(items, fn):
        counter = itertools.count()

        def loop():
            with torch.no_grad():
                state: dict = {}
                while (i := next(counter)) < len(items):
                    fn(items[i], state)
                return state

        return [f.result() for f in [pool.submit(loop) for _ in range(workers)]]

    def pad_input():
        with torch.no_grad():
            return plan.extend(pad(u, plan.k, padding))

    x = pool.submit(pad_input).result()
    xf: list = [None] * len(tiles)
    qs: list = [None] * npair
    mint: list = [None]  # one tile: all its interleaved pair maps, prepared in phase 1

    def prepare(item, state):
        kind, i = item
        if kind == "x":
            r0, c0 = tiles[i][:2]
            xf[i] = torch.fft.fft2(x[..., r0 : r0 + fh, c0 : c0 + fw]).unsqueeze(2)  # [N, C, 1, fh, fw]
        elif kind == "q":
            qs[i] = _pair_spectra(kernels[:, 2 * i : 2 * i + 2], fh, fw).unsqueeze(1)  # [N, 1, 1, fh, fw]
        else:  # interleaved (m_2p, m_2p+1) of the single tile: strided maps are ~50x slower in the products
            mt = mixing.new_empty(n, npair, plan.ho, plan.wo, 2)
            mt[..., 0].copy_(mixing[:, 0::2])
            mt[:, : b // 2, :, :, 1].copy_(mixing[:, 1::2])
            if b % 2:
                mt[:, -1, :, :, 1].zero_()
            mint[0] = mt.unsqueeze(1)  # [N, 1, P, Ho, Wo, 2]

    items = [("x", t) for t in range(len(tiles))] + [("q", p) for p in range(npair)]
    run(items + ([("m", 0)] if len(tiles) == 1 else []), prepare)

    def accumulate(item, state):
        t, p, c0, c1 = item
        r0, tc0, rows, cols = tiles[t]
        if not state:
            state["acc"] = {}
            state["pbuf"] = xf[0].new_empty(xf[0].shape)
            state["mbuf"] = mixing.new_empty(n, 1, plan.th, plan.tw, 2)
        prod = torch.mul(xf[t][:, c0:c1], qs[p], out=state["pbuf"][:, : c1 - c0])
        zr = torch.view_as_real(torch.fft.ifft2(prod, norm="forward"))[:, :, 0, :rows, :cols, :]
        if mint[0] is not None:
            mt = mint[0][:, :, p]
        else:  # several tiles: interleave this pair's maps on this tile
            mt = state["mbuf"][:, :, :rows, :cols]
            mt[..., 0].copy_(mixing[:, 2 * p : 2 * p + 1, r0 : r0 + rows, tc0 : tc0 + cols])
            if 2 * p + 1 < b:
                mt[..., 1].copy_(mixing[:, 2 * p + 1 : 2 * p + 2, r0 : r0 + rows, tc0 : tc0 + cols])
            else:
                mt[..., 1].zero_()
        acc = state["acc"].get(t)
        if acc is None and c1 - c0 == c:
            state["acc"][t] = torch.mul(zr, mt)
            return
        if acc is None:
            acc = state["acc"][t] = mixing.new_zeros(n, c, rows, cols, 2)
        acc[:, c0:c1].addcmul_(zr, mt)

    # items of one kernel pair (and, when there are few, of one channel) on one tile
    cc = c if len(tiles) * npair >= 8 * workers else 1
    items = [(t, p, c0, min(c, c0 + cc)) for t in range(len(tiles)) for p in range(npair) for c0 in range(0, c, cc)]
    states = run(items, accumulate)

    def combine():
        with torch.no_grad():
            y = mixing.new_empty(n, c, plan.ho, plan.wo)
            for t, (r0, c0, rows, cols) in enumerate(tiles):
                accs = [s["acc"][t] for s in states if s and t in s["acc"]]
                total = accs[0]
                for a in accs[1:]:
                    total += a
                torch.add(total[..., 0], total[..., 1], out=y[..., r0 : r0 + rows, c0 : c0 + cols])
            return y

    return pool.submit(combine).result()


def tile_pass(u: Tensor | None, padding: str, v: Tensor | None, kernels: Tensor, mixing: Tensor, plan: Plan,
               **ops: bool) -> dict[str, Tensor]:
    """Pad ``u`` (the sharp side), run :func:`_tile_pass_serial`, fold the adjoint output (``a`` is returned
    at the sharp size). On CPU the kernel pairs are split over ``torch.get_num_threads()`` single-threaded
    helper threads, which also do the padding and the final sums.

    The groups are independent (forward/adjoint outputs add up, kernel/mixing gradients concatenate). Each
    helper runs its chain of FFTs and products without OpenMP teams: ATen's 2-thread ops on these
    medium-sized tensors scale poorly and, on a busy machine, every op waits for its second thread to be
    scheduled (measured ~6 ms per op at load 2.6 on 2 cores, i.e. 10x slower than one thread).
    """
    n, b = mixing.shape[:2]
    c = (u if u is not None else v).shape[1]
    threads = _num_threads() if mixing.device.type == "cpu" else 1
    groups = min(threads, (b + 1) // 2)
    pool = _helper_pool(groups) if groups >= 2 and n * c * b * plan.ho * plan.wo >= _PARALLEL_MIN_WORK else None
    if pool is None:
        return _combine([_pass_group(u, padding, v, kernels, mixing, plan, ops)], plan, padding)
    if _DYNAMIC_FORWARD and ops == {"fwd": True}:
        return {"y": _forward_dynamic(u, padding, kernels, mixing, plan, pool, groups)}
    npair = (b + 1) // 2
    cuts = [2 * (npair * i // groups) for i in range(groups)] + [b]
    futures = [pool.submit(_pass_group, u, padding, v, kernels[:, lo:hi], mixing[:, lo:hi], plan, ops)
               for lo, hi in zip(cuts[:-1], cuts[1:])]
    results = [f.result() for f in futures]
    return pool.submit(_combine, results, plan, padding).result()
