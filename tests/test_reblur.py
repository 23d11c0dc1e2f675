"""Correctness of blurbench.ops.reblur on every path: reference agreement, adjointness, gradients, pixel
kernels, errors. (The path choice itself: tests/test_reblur_autotune.py.)"""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import blurbench.ops.reblur_fft as engine
from blurbench.ops import reblur_autotune as autotune
from blurbench.ops.reblur import (
    PADDINGS,
    pad_sizes,
    pixel_kernels,
    reblur,
    reblur_adjoint,
    reblur_reference,
)


def _problem(n, c, h, w, b, k, padding, dtype=torch.float32, seed=0):
    """Random sharp image, non-normalised kernels (signed) and mixing maps at the output size."""
    g = torch.Generator().manual_seed(seed)
    sharp = torch.rand(n, c, h, w, generator=g, dtype=dtype)
    kernels = torch.rand(n, b, k, k, generator=g, dtype=dtype) - 0.3
    ho, wo = (h - k + 1, w - k + 1) if padding == "valid" else (h, w)
    mixing = torch.rand(n, b, ho, wo, generator=g, dtype=dtype)
    return sharp, kernels, mixing


def _rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def _output_and_grads(fn, sharp, kernels, mixing, padding):
    """[output, d/dsharp, d/dkernels, d/dmixing] of ``fn`` for a fixed non-constant output gradient."""
    args = [t.clone().requires_grad_(True) for t in (sharp, kernels, mixing)]
    out = fn(*args, padding)
    out.backward(torch.cos(torch.arange(out.numel(), dtype=out.dtype)).reshape(out.shape))
    return [out.detach()] + [a.grad for a in args]


CPU = torch.device("cpu")
PATH_NAMES = ["fft-opencv-serial", "fft-torch-serial", "fft-opencv-threads", "fft-torch-threads", "direct"]


def _forced(name: str, tile: int | None = None):
    """Force the path ``name`` (with FFT tiles of at most ``tile``) for the test; skip if it cannot run here
    (the helper threads need ATen's OpenMP runtime): a test never passes on another path than it names."""
    path = autotune.Path.parse(name if tile is None else f"{name}-t{tile}")
    reason = autotune.why_not(path, CPU)
    if reason is not None:
        pytest.skip(reason)
    return path


class _Ran:
    """Context: force ``path``; on exit check that every reblur call in the block ran on it."""

    def __init__(self, path):
        self.path, self.force = path, autotune.force(path)

    def __enter__(self):
        self.force.__enter__()
        autotune.record(None)
        return self.path

    def __exit__(self, *exc):
        self.force.__exit__(*exc)
        assert exc[0] is not None or autotune.last_path() == self.path


@pytest.fixture(params=PATH_NAMES)
def path(request):
    """Every kind of path the chooser can pick (the default tile), forced for the whole test."""
    with _Ran(_forced(request.param)) as p:
        yield p


@pytest.fixture(params=[n for n in PATH_NAMES if n != "direct"])
def fft_path(request):
    """The FFT engine's paths (both transforms, helper threads or not), forced for the whole test."""
    with _Ran(_forced(request.param)) as p:
        yield p


CASES = [  # n, c, h, w, b, k
    (1, 1, 16, 16, 1, 3),
    (2, 3, 17, 23, 4, 5),
    (2, 1, 20, 15, 3, 4),  # even kernel
    (1, 3, 40, 37, 5, 9),
    (2, 3, 31, 30, 2, 6),
    (1, 3, 70, 90, 25, 33),  # paper sizes K = 33, B = 25
]


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "n{}c{}_{}x{}_b{}k{}".format(*c))
def test_matches_reference(padding, case, path):
    n, c, h, w, b, k = case
    sharp, kernels, mixing = _problem(n, c, h, w, b, k, padding)
    ours = reblur(sharp, kernels, mixing, padding)
    ref = reblur_reference(sharp, kernels, mixing, padding)
    assert ours.shape == ref.shape == (n, c, *mixing.shape[-2:])
    assert _rel_err(ours, ref) < 1e-5


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("k", [3, 4, 7])
def test_single_kernel_is_plain_conv2d(padding, k):
    """Independent check: B = 1, mixing = 1 is F.conv2d (per channel) of the padded image."""
    n, c, h, w = 2, 3, 19, 22
    sharp, kernels, _ = _problem(n, c, h, w, 1, k, padding, dtype=torch.float64)
    before, after = pad_sizes(k)
    pads = (before, after, before, after)
    if padding == "valid":
        xp = sharp
    elif padding == "zeros":
        xp = F.pad(sharp, pads)
    else:
        xp = F.pad(sharp, pads, mode=padding)
    expected = torch.stack(
        [F.conv2d(xp[i : i + 1].transpose(0, 1), kernels[i : i + 1])[:, 0] for i in range(n)]
    )
    mixing = torch.ones(n, 1, *expected.shape[-2:], dtype=torch.float64)
    assert _rel_err(reblur(sharp, kernels, mixing, padding), expected) < 1e-10
    assert _rel_err(reblur_reference(sharp, kernels, mixing, padding), expected) < 1e-12
    if padding == "zeros":  # even kernels split like F.conv2d(padding="same")
        same = F.conv2d(sharp[:1].transpose(0, 1), kernels[:1], padding="same")[:, 0]
        assert _rel_err(reblur(sharp, kernels, mixing, padding)[0], same) < 1e-10


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("size", [(16, 16), (17, 22), (41, 36)])
@pytest.mark.parametrize("k", [5, 6])
def test_adjointness(padding, size, k):
    n, c, b = 2, 3, 4
    sharp, kernels, mixing = _problem(n, c, *size, b, k, padding, dtype=torch.float64)
    v = torch.randn(n, c, *mixing.shape[-2:], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    au = reblur(sharp, kernels, mixing, padding)
    atv = reblur_adjoint(v, kernels, mixing, padding)
    assert atv.shape == sharp.shape
    lhs, rhs = (au * v).sum(), (sharp * atv).sum()
    assert abs(lhs - rhs) / abs(lhs) < 1e-10
    # float32 too
    au32 = reblur(sharp.float(), kernels.float(), mixing.float(), padding)
    atv32 = reblur_adjoint(v.float(), kernels.float(), mixing.float(), padding)
    lhs32, rhs32 = (au32.double() * v).sum(), (sharp * atv32.double()).sum()
    assert abs(lhs32 - rhs32) / ((au32.double() * v).abs().sum()) < 1e-5


@pytest.mark.parametrize("padding", PADDINGS)
def test_adjoint_matches_autograd(padding):
    """A^T v equals the vector-Jacobian product of the reference operator."""
    sharp, kernels, mixing = _problem(1, 2, 15, 18, 3, 5, padding, dtype=torch.float64)
    sharp.requires_grad_(True)
    out = reblur_reference(sharp, kernels, mixing, padding)
    v = torch.randn_like(out)
    (vjp,) = torch.autograd.grad(out, sharp, v)
    assert _rel_err(reblur_adjoint(v, kernels, mixing, padding), vjp) < 1e-10


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("k", [3, 4, 5])
@pytest.mark.parametrize("name", ["fft-opencv-serial", "fft-torch-serial"])
def test_tiled_matches_reference(padding, k, name, monkeypatch):
    """Many (and partial) FFT tiles, one kernel pair per batched transform, on a small image."""
    monkeypatch.setattr(engine, "_CHUNK_TRANSFORMS", 1)
    sharp, kernels, mixing = _problem(2, 3, 37, 29, 5, k, padding)
    with _Ran(_forced(name, tile=16)) as p:
        assert engine.Plan(*mixing.shape[-2:], k, p.tile).nh > 2
        assert _rel_err(reblur(sharp, kernels, mixing, padding),
                        reblur_reference(sharp, kernels, mixing, padding)) < 1e-5
        v = torch.randn(2, 3, *mixing.shape[-2:], generator=torch.Generator().manual_seed(1))
        lhs = (reblur(sharp, kernels, mixing, padding) * v).sum()
        rhs = (sharp * reblur_adjoint(v, kernels, mixing, padding)).sum()
    assert abs(lhs - rhs) / abs(lhs) < 1e-5


@pytest.mark.parametrize("padding", ["reflect", "valid"])
@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("tile", [320, 16])
@pytest.mark.parametrize("name", ["fft-opencv-threads", "fft-torch-threads"])
def test_threaded_matches_reference(padding, threads, tile, name, monkeypatch):
    """The work split over helper threads (one or many tiles): values and all three gradients unchanged, and
    the helpers did run (the pipelined forward, the split backward passes)."""
    monkeypatch.setattr(engine, "_num_threads", lambda: threads)
    sharp, kernels, mixing = _problem(2, 3, 30, 27, 7, 5, padding)
    ref = _output_and_grads(reblur_reference, sharp, kernels, mixing, padding)
    before = engine.RUNS.copy()
    with _Ran(_forced(name, tile)):
        ours = _output_and_grads(reblur, sharp, kernels, mixing, padding)
        v = torch.randn(2, 3, *mixing.shape[-2:], generator=torch.Generator().manual_seed(1))
        lhs = (reblur(sharp, kernels, mixing, padding) * v).sum()
        rhs = (sharp * reblur_adjoint(v, kernels, mixing, padding)).sum()
    runs = engine.RUNS - before
    assert runs["pipelined"] == 2 and runs["split"] == 2 and runs["serial"] == 0, runs
    for o, r in zip(ours, ref):
        assert _rel_err(o, r) < 1e-5
    assert abs(lhs - rhs) / abs(lhs) < 1e-5


PIPELINE_CASES = [  # c, b, k, h, w, tile
    (3, 25, 7, 36, 41, 320),  # one tile: all-channel items, then per-channel items for the last pairs
    (1, 5, 5, 23, 30, 320),  # one tile, one channel
    (3, 1, 4, 19, 22, 320),  # one tile, a single kernel (one pair, zero partner), even K
    (2, 2, 3, 21, 17, 320),  # one tile, one full pair
    (3, 2, 5, 30, 14, 24),  # two tiles, few items: one channel per item
    (3, 7, 5, 37, 29, 16),  # many (partial) tiles: all channels per item
    (2, 3, 5, 25, 26, 320),  # one tile, odd B: both channels of the last kernel in one transform
    (4, 5, 3, 20, 22, 320),  # one tile, odd B, C = 4: two shared transforms for the last kernel
    (5, 3, 3, 23, 21, 12),  # several tiles, odd B, C = 5: shared transforms and a lone channel per tile
]


@pytest.mark.parametrize("reuse", [True, False], ids=["reused-buffers", "fresh-buffers"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["fft-opencv-threads", "fft-torch-threads"])
def test_pipelined_forward_matches_reference(dtype, reuse, name, monkeypatch):
    """The threaded forward (preparations and products pulled from one list, per-thread reused buffers):
    every item layout equals the reference, also when consecutive calls change shapes (buffer reuse)."""
    if not reuse:
        monkeypatch.setattr(engine, "_WORKSPACE_MAX_BYTES", 0)
    monkeypatch.setattr(engine, "_num_threads", lambda: 2)
    calls = []
    pipelined = engine._forward_pipelined
    monkeypatch.setattr(engine, "_forward_pipelined", lambda *a: calls.append(len(list(a[4].tiles()))) or pipelined(*a))
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for case in PIPELINE_CASES + PIPELINE_CASES[:1]:
        c, b, k, h, w, tile = case
        for padding in ("reflect", "valid"):
            sharp, kernels, mixing = _problem(2, c, h, w, b, k, padding, dtype=dtype, seed=b)
            with _Ran(_forced(name, tile)):
                ours = reblur(sharp, kernels, mixing, padding)
            assert _rel_err(ours, reblur_reference(sharp, kernels, mixing, padding)) < tol, (case, padding)
    assert len(calls) == 2 * (len(PIPELINE_CASES) + 1) and calls[-1] == 1 and {2, 1} < set(calls)


@pytest.mark.parametrize("tile", [320, 16])
def test_threaded_forward_is_the_same_bit_for_bit(tile, monkeypatch):
    """The helpers finish their items in any order (shuffled here by random delays), but the products are
    summed in the order of the kernel pairs: every run gives the same bits (data generation relies on it)."""
    import random
    import time

    from blurbench.ops import dft

    monkeypatch.setattr(engine, "_num_threads", lambda: 3)
    overwrite = dft.dft2_overwrite
    delays = random.Random(0)

    def shuffled(*args, **kwargs):
        time.sleep(delays.random() * 2e-4)
        return overwrite(*args, **kwargs)

    monkeypatch.setattr(dft, "dft2_overwrite", shuffled)
    sharp, kernels, mixing = _problem(1, 3, 40, 36, 9, 5, "reflect")
    with _Ran(_forced("fft-torch-threads", tile)):
        outs = [reblur(sharp, kernels, mixing) for _ in range(6)]
    assert all(torch.equal(o, outs[0]) for o in outs[1:])
    assert _rel_err(outs[0], reblur_reference(sharp, kernels, mixing)) < 1e-5


def test_pipelined_forward_reraises_the_original_error(monkeypatch):
    """A preparation failing in one helper surfaces as its own error, not as the other helpers' wait failure."""
    monkeypatch.setattr(engine, "_num_threads", lambda: 2)

    def broken(*args):
        raise ArithmeticError("broken pair spectrum")

    original = engine._pair_spectra
    monkeypatch.setattr(engine, "_pair_spectra", broken)
    sharp, kernels, mixing = _problem(1, 3, 20, 20, 5, 3, "reflect")
    with _Ran(_forced("fft-torch-threads")):
        with pytest.raises(ArithmeticError, match="broken pair spectrum"):
            reblur(sharp, kernels, mixing)
        monkeypatch.setattr(engine, "_pair_spectra", original)  # the helpers still work after the failure
        assert _rel_err(reblur(sharp, kernels, mixing), reblur_reference(sharp, kernels, mixing)) < 1e-5


@pytest.mark.parametrize("padding", PADDINGS)
def test_gradcheck(padding, path):
    sharp, kernels, mixing = _problem(2, 2, 9, 8, 3, 3, padding, dtype=torch.float64)
    args = tuple(t.clone().requires_grad_(True) for t in (sharp, kernels, mixing))
    assert torch.autograd.gradcheck(lambda u, k, m: reblur(u, k, m, padding), args, fast_mode=True)


@pytest.mark.parametrize("name", [p.name for p in autotune.paths(CPU)])
def test_every_path_the_chooser_can_pick(name):
    """Each path the chooser may pick on this machine (every tile size too; several tiles at 16), for the map
    and its adjoint: the same values (<= 1e-5) and gradients in all three inputs as the reference."""
    sharp, kernels, mixing = _problem(1, 3, 41, 37, 5, 7, "reflect")
    v = torch.randn(1, 3, 41, 37, generator=torch.Generator().manual_seed(5))
    ref = _output_and_grads(reblur_reference, sharp, kernels, mixing, "reflect")

    def adjoint_reference(v, k, m, padding):
        u = torch.zeros_like(sharp, requires_grad=True)
        return torch.autograd.grad(reblur_reference(u, k, m, padding), u, v, create_graph=True)[0]

    ref_adj = _output_and_grads(adjoint_reference, v, kernels, mixing, "reflect")
    chosen = autotune.Path.parse(name)
    for path in [chosen] + ([dataclasses.replace(chosen, tile=16)] if chosen.is_fft else []):
        with _Ran(path):
            ours = _output_and_grads(reblur, sharp, kernels, mixing, "reflect")
            ours_adj = _output_and_grads(reblur_adjoint, v, kernels, mixing, "reflect")
        for o, r in zip(ours + ours_adj, ref + ref_adj):
            assert _rel_err(o, r) < 1e-5, path


@pytest.mark.parametrize("padding", ["reflect", "valid"])
def test_gradcheck_full_jacobian(padding):
    """Slow-mode gradcheck (every Jacobian entry) on a tiny problem; odd B exercises the zero pair partner."""
    sharp, kernels, mixing = _problem(1, 2, 7, 6, 3, 3, padding, dtype=torch.float64)
    args = tuple(t.clone().requires_grad_(True) for t in (sharp, kernels, mixing))
    assert torch.autograd.gradcheck(lambda u, k, m: reblur(u, k, m, padding), args)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("name", ["fft-opencv-serial", "fft-torch-serial", "fft-torch-threads"])
def test_gradcheck_tiled(padding, name, monkeypatch):
    monkeypatch.setattr(engine, "_CHUNK_TRANSFORMS", 1)
    sharp, kernels, mixing = _problem(1, 2, 21, 19, 2, 4, padding, dtype=torch.float64)
    args = tuple(t.clone().requires_grad_(True) for t in (sharp, kernels, mixing))
    with _Ran(_forced(name, tile=16)):
        assert torch.autograd.gradcheck(lambda u, k, m: reblur(u, k, m, padding), args, fast_mode=True)


@pytest.mark.parametrize("padding", PADDINGS)
def test_gradcheck_adjoint(padding, path):
    _, kernels, mixing = _problem(2, 2, 9, 8, 3, 3, padding, dtype=torch.float64)
    v = torch.randn(2, 2, *mixing.shape[-2:], dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    args = tuple(t.clone().requires_grad_(True) for t in (v, kernels, mixing))
    assert torch.autograd.gradcheck(lambda v, k, m: reblur_adjoint(v, k, m, padding), args, fast_mode=True)


def test_low_precision_inputs():
    sharp, kernels, mixing = _problem(1, 3, 20, 18, 3, 5, "reflect")
    out = reblur(sharp.bfloat16(), kernels.bfloat16(), mixing.bfloat16())
    assert out.dtype == torch.bfloat16
    ref = reblur_reference(sharp.bfloat16().float(), kernels.bfloat16().float(), mixing.bfloat16().float())
    assert _rel_err(out.float(), ref) < 1e-2


@pytest.mark.parametrize("padding", PADDINGS)
def test_gradients_match_reference(padding, path):
    """Every path the chooser can pick: the same values (<= 1e-5) and gradients in all three inputs, for the
    map and for its adjoint (whose reference is autograd's vector-Jacobian product of the reference map)."""
    sharp, kernels, mixing = _problem(2, 3, 30, 27, 5, 7, padding)
    ours, ref = (_output_and_grads(fn, sharp, kernels, mixing, padding) for fn in (reblur, reblur_reference))
    for g, g_ref in zip(ours, ref):
        assert _rel_err(g, g_ref) < 1e-5
    v = torch.randn(2, 3, *mixing.shape[-2:], generator=torch.Generator().manual_seed(4))

    def adjoint_reference(v, k, m, padding):  # A^T v = d<A u, v>/du, with the graph kept for its own gradients
        u = torch.zeros_like(sharp, requires_grad=True)
        return torch.autograd.grad(reblur_reference(u, k, m, padding), u, v, create_graph=True)[0]

    ours, ref = (_output_and_grads(fn, v, kernels, mixing, padding) for fn in (reblur_adjoint, adjoint_reference))
    for g, g_ref in zip(ours, ref):
        assert _rel_err(g, g_ref) < 1e-5


def test_pixel_kernels_brute_force():
    g = torch.Generator().manual_seed(3)
    n, b, k, h, w = 2, 4, 5, 11, 13
    kernels = torch.rand(n, b, k, k, generator=g, dtype=torch.float64)
    mixing = torch.rand(n, b, h, w, generator=g, dtype=torch.float64)
    full = torch.einsum("nbyx,nbij->nyxij", mixing, kernels)  # brute force, H×W×K×K (tiny here)
    ys = torch.tensor([0, 10, 5, 3])
    xs = torch.tensor([0, 12, 7, 7])
    out = pixel_kernels(kernels, mixing, ys, xs)
    assert out.shape == (n, 4, k, k)
    assert torch.allclose(out, full[:, ys, xs])
    ys2 = torch.tensor([[1, 2, 3], [4, 5, 6]])
    xs2 = torch.tensor([[0, 1, 2], [12, 11, 10]])
    out2 = pixel_kernels(kernels, mixing, ys2, xs2)
    for i in range(n):
        assert torch.allclose(out2[i], full[i, ys2[i], xs2[i]])


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("k", [5, 6])
def test_reblur_at_pixel_is_patch_dot_pixel_kernel(padding, k):
    sharp, kernels, mixing = _problem(2, 3, 20, 17, 3, k, padding, dtype=torch.float64)
    out = reblur(sharp, kernels, mixing, padding)
    ho, wo = out.shape[-2:]
    ys = torch.tensor([0, ho - 1, ho // 2, 3])
    xs = torch.tensor([wo - 1, 0, wo // 2, 1])
    kx = pixel_kernels(kernels, mixing, ys, xs)  # [N, P, K, K]
    before, after = pad_sizes(k)
    if padding == "valid":
        xp = sharp
    elif padding == "zeros":
        xp = F.pad(sharp, (before, after, before, after))
    else:
        xp = F.pad(sharp, (before, after, before, after), mode=padding)
    for p, (y, x) in enumerate(zip(ys.tolist(), xs.tolist())):
        patch = xp[:, :, y : y + k, x : x + k]  # [N, C, K, K]
        expected = (patch * kx[:, p, None]).sum((-1, -2))
        assert torch.allclose(out[:, :, y, x], expected, rtol=1e-10, atol=1e-12)


def test_bad_arguments():
    sharp, kernels, mixing = _problem(1, 3, 20, 20, 2, 5, "reflect")
    with pytest.raises(ValueError, match="unknown padding 'circular'.*reflect"):
        reblur(sharp, kernels, mixing, "circular")
    with pytest.raises(ValueError, match="mixing spatial size"):
        reblur(sharp, kernels, mixing, "valid")
    with pytest.raises(ValueError, match="number of kernels"):
        reblur(sharp, kernels, mixing[:, :1])
    with pytest.raises(ValueError, match="batch size"):
        reblur(sharp, kernels.expand(2, -1, -1, -1), mixing)
    with pytest.raises(ValueError, match=r"kernels must be \[N, B, K, K\]"):
        reblur(sharp, kernels[..., :4], mixing)
    with pytest.raises(ValueError, match=r"sharp must be \[N, C, H, W\]"):
        reblur(sharp[0], kernels, mixing)
    with pytest.raises(ValueError, match="dtype"):
        reblur(sharp.double(), kernels, mixing)
    with pytest.raises(ValueError, match="'reflect' padding"):
        reblur(sharp[..., :2, :2], kernels, mixing[..., :2, :2])
    with pytest.raises(ValueError, match="'valid' padding needs"):
        reblur(sharp[..., :4, :4], kernels, mixing[..., :0, :0], "valid")
    with pytest.raises(ValueError, match="blurry must be"):
        reblur_adjoint(sharp[0], kernels, mixing)
    with pytest.raises(ValueError, match="mixing spatial size"):
        reblur_adjoint(sharp, kernels, mixing[..., :-1])
    with pytest.raises(ValueError, match="unknown padding"):
        reblur_reference(sharp, kernels, mixing, "same")
    with pytest.raises(ValueError, match="ys and xs"):
        pixel_kernels(kernels, mixing, torch.tensor([1, 2]), torch.tensor([1]))
    with pytest.raises(ValueError, match="out of range"):
        pixel_kernels(kernels, mixing, torch.tensor([20]), torch.tensor([0]))


def test_threaded_forward_under_inference_mode(monkeypatch):
    """Lightning's test loop runs in inference mode (thread-local): the helper threads must write the output in
    the same mode, and buffers they keep must not leak inference tensors into later autograd calls."""
    monkeypatch.setattr(engine, "_num_threads", lambda: 2)
    sharp, kernels, mixing = _problem(1, 3, 40, 36, 6, 5, "reflect")
    ref = reblur_reference(sharp, kernels, mixing, "reflect")
    with _Ran(_forced("fft-torch-threads")):
        with torch.inference_mode():
            out = reblur(sharp, kernels, mixing, "reflect")
        assert _rel_err(out, ref) < 1e-5
        args = [t.clone().requires_grad_(True) for t in (sharp, kernels, mixing)]
        again = reblur(*args, "reflect")
        again.sum().backward()
    assert _rel_err(again.detach(), ref) < 1e-5 and all(a.grad is not None for a in args)


@pytest.mark.parametrize("shape", [(2, 3, 288, 288), (1, 1, 45, 63), (1, 2, 7, 8), (3, 1, 1, 5), (1, 1, 6, 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("opencv", [True, False])
def test_real_spectrum_is_fft2(shape, dtype, opencv):
    """The two-sided spectrum (torch: rebuilt from rfft2 by conjugate symmetry, odd and even sides) is fft2."""
    x = torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(3))
    ref = torch.fft.fft2(x)
    assert _rel_err(engine.real_spectrum(x, opencv=opencv), ref) < (1e-6 if dtype == torch.float32 else 1e-13)
    out = torch.full_like(ref, 7.0)  # every element is written, whatever was there
    engine.real_spectrum(x, out=out, opencv=opencv)
    assert _rel_err(out, ref) < (1e-6 if dtype == torch.float32 else 1e-13)


def test_concurrent_callers_share_the_helpers(monkeypatch):
    """Several threads calling reblur at once share one helper pool: each call keeps its own accumulators."""
    import threading

    monkeypatch.setattr(engine, "_num_threads", lambda: 2)
    problems = [_problem(1, 3, 30, 28, 5, 5, "reflect", seed=i) for i in range(4)]  # same shapes: same buffers
    refs = [reblur_reference(*pr, "reflect") for pr in problems]
    errors = []
    path = _forced("fft-opencv-threads")

    def caller(i):
        with _Ran(path):  # force() is per thread
            for _ in range(25):
                errors.append(_rel_err(reblur(*problems[i], "reflect"), refs[i]))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 100 and max(errors) < 1e-5
