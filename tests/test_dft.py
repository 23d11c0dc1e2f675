"""blurbench.ops.dft.dft2 (OpenCV on CPU) against torch.fft: values, in-place and strided use, fallbacks."""

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
def test_matches_torch_fft(shape, dtype, inverse):
    """Forward = fft2, inverse = ifft2 without the 1/(H W); out-of-place, into out=, and in place."""
    x = _rand(shape, dtype)
    ref = _torch_dft2(x, inverse)
    assert dft.uses_opencv(x.device, x.dtype)
    y = dft.dft2(x, inverse)
    assert _close(y, ref) and not torch.equal(x, y)
    out = torch.full_like(x, 3.0)
    assert dft.dft2(x, inverse, out=out) is out and _close(out, ref)
    z = x.clone()
    assert dft.dft2(z, inverse, out=z) is z and _close(z, ref)


def test_inverse_undoes_forward_up_to_the_size():
    x = _rand((3, 20, 30), torch.complex64)
    assert _close(dft.dft2(dft.dft2(x), inverse=True) / 600, x)


def test_strided_conjugate_and_leading_views():
    """Views with strided rows, lazy conjugation and non-collapsible leading dims read and write in place."""
    base = _rand((4, 10, 12), torch.complex64, seed=1)
    for x in (base[:, 1:8, 2:9], base.conj(), base[::2], base.permute(1, 0, 2)[:, :, :5].transpose(0, 1)):
        assert _close(dft.dft2(x), torch.fft.fft2(x))
    holder = torch.zeros(4, 10, 12, dtype=torch.complex64)
    view = holder[:, :, :6]  # rows of 12 elements, 6 used: the result lands in the holder's memory
    dft.dft2(base[:, :, :6], inverse=True, out=view)
    assert _close(holder[:, :, :6], torch.fft.ifft2(base[:, :, :6], norm="forward"))
    assert holder[:, :, 6:].abs().max() == 0


def test_fallbacks_give_the_same_values(monkeypatch):
    """torch.fft serves other dtypes/layouts, empty tensors and the switched-off path (what GPUs run)."""
    x = _rand((2, 6, 8), torch.complex64, seed=2)
    ref = torch.fft.fft2(x)
    monkeypatch.setattr(dft, "_USE_OPENCV", False)
    assert not dft.uses_opencv(x.device, x.dtype)
    out = torch.empty_like(x)
    assert dft.dft2(x, out=out) is out and _close(out, ref)
    monkeypatch.setattr(dft, "_USE_OPENCV", True)
    assert not dft.uses_opencv(x.device, torch.float32)
    assert _close(dft.dft2(x.transpose(-1, -2)), torch.fft.fft2(x.transpose(-1, -2)))  # columns not dense
    assert dft.dft2(torch.empty(0, 4, 4, dtype=torch.complex64)).shape == (0, 4, 4)


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
        outs = list(pool.map(lambda x: dft.dft2(x.clone(), True, out=None), xs * 4))
    for x, y in zip(xs * 4, outs):
        assert _close(y, torch.fft.ifft2(x, norm="forward"))
