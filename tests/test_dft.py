"""blurbench.ops.dft.dft2 (OpenCV on CPU, or torch.fft) against torch.fft: values, in-place and strided use,
fallbacks."""

import pytest
import torch

from blurbench.ops import dft


def _rand(shape, dtype, seed=0):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _torch_dft2(x, inverse):
    return torch.fft.ifft2(x, norm="forward") if inverse else torch.fft.fft2(x)


def _close(a, b):
    tol = 1e-6 if a.dtype == torch.complex64 else 1e-13
    return ((a - b).abs().max() / b.abs().max()).item() < tol


@pytest.mark.parametrize("shape", [(288, 288), (2, 3, 17, 12), (1, 9), (9, 1), (5, 7)])
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("opencv", [True, False])
def test_matches_torch_fft(shape, dtype, inverse, opencv):
    """Forward = fft2, inverse = ifft2 without the 1/(H W); out-of-place, into out=, in place, and overwriting
    (in place with OpenCV, a new tensor from torch.fft)."""
    x = _rand(shape, dtype)
    ref = _torch_dft2(x, inverse)
    assert dft.opencv_supports(x.device, x.dtype)
    y = dft.dft2(x, inverse, opencv=opencv)
    assert _close(y, ref) and not torch.equal(x, y)
    out = torch.full_like(x, 3.0)
    assert dft.dft2(x, inverse, out=out, opencv=opencv) is out and _close(out, ref)
    z = x.clone()
    assert dft.dft2(z, inverse, out=z, opencv=opencv) is z and _close(z, ref)
    w = x.clone()
    r = dft.dft2_overwrite(w, inverse, opencv=opencv)
    assert _close(r, ref) and (r is w) == opencv


def test_inverse_undoes_forward_up_to_the_size():
    x = _rand((3, 20, 30), torch.complex64)
    assert _close(dft.dft2(dft.dft2(x), inverse=True) / 600, x)


def test_strided_conjugate_and_leading_views():
    """Views with strided rows, lazy conjugation and non-collapsible leading dims read and write in place."""
    base = _rand((4, 10, 12), torch.complex64, seed=1)
    views = (lambda b: b[:, 1:8, 2:9], lambda b: b.conj(), lambda b: b[::2],
             lambda b: b.permute(1, 0, 2)[:, :, :5].transpose(0, 1))
    for view in views:
        x = view(base)
        assert _close(dft.dft2(x, opencv=True), torch.fft.fft2(x))
        x = view(base.clone())  # overwritten in place (a lazily conjugated view is not: a new tensor)
        ref = torch.fft.fft2(x)
        assert _close(dft.dft2_overwrite(x, opencv=True), ref)
    holder = torch.zeros(4, 10, 12, dtype=torch.complex64)
    view = holder[:, :, :6]  # rows of 12 elements, 6 used: the result lands in the holder's memory
    dft.dft2(base[:, :, :6], inverse=True, out=view, opencv=True)
    assert _close(holder[:, :, :6], torch.fft.ifft2(base[:, :, :6], norm="forward"))
    assert holder[:, :, 6:].abs().max() == 0


def test_fallbacks_give_the_same_values():
    """torch.fft serves other devices, dtypes and layouts even when OpenCV is asked for, and empty tensors."""
    x = _rand((2, 6, 8), torch.complex64, seed=2)
    assert not dft.opencv_supports(x.device, torch.float32)
    assert not dft.opencv_supports(torch.device("meta"), x.dtype)
    t = x.transpose(-1, -2)  # columns not dense
    assert _close(dft.dft2(t, opencv=True), torch.fft.fft2(t))
    assert _close(dft.dft2_overwrite(t.clone().transpose(-1, -2).transpose(-1, -2), opencv=True), torch.fft.fft2(t))
    assert dft.dft2(torch.empty(0, 4, 4, dtype=torch.complex64), opencv=True).shape == (0, 4, 4)
    assert dft.dft2_overwrite(torch.empty(0, 4, 4, dtype=torch.complex64), opencv=True).shape == (0, 4, 4)


def test_out_must_match():
    x = _rand((4, 4), torch.complex64)
    with pytest.raises(ValueError, match="out has shape"):
        dft.dft2(x, out=torch.empty(4, 5, dtype=torch.complex64))
    with pytest.raises(ValueError, match="out has shape"):
        dft.dft2(x, out=torch.empty(4, 4, dtype=torch.complex128))


def test_threads_transform_concurrently():
    """Helper threads call it at once (OpenCV releases the GIL): every result is still its own transform."""
    from concurrent.futures import ThreadPoolExecutor

    xs = [_rand((3, 64, 64), torch.complex64, seed=s) for s in range(8)]
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda x: dft.dft2(x.clone(), True, out=None, opencv=True), xs * 4))
    for x, y in zip(xs * 4, outs):
        assert _close(y, torch.fft.ifft2(x, norm="forward"))
