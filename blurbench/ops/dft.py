"""Unnormalised 2-D DFTs of complex tensors over their last two dimensions: OpenCV's DFT or ``torch.fft``.

Which one is faster depends on the processor: on an AMD EPYC (2 cores, AVX-512) OpenCV's DFT (Intel IPP inside
the opencv-python wheels) transforms a 288² complex64 tile in 0.094 ms against 0.215 ms for ``torch.fft.ifft2``
(MKL, whose kernels are slower on AMD parts); on an Intel Xeon (2 cores, AVX-512) it is the other way round,
0.15 vs 0.11 ms (``python bench/bench_dft.py`` prints the ratios). So the caller says which one to use (the
reblur engine times both, see :mod:`blurbench.ops.reblur_autotune`). OpenCV runs on CPU tensors only and
releases the GIL during the transform, so Python helper threads run them in parallel; other devices, dtypes
and layouts go to ``torch.fft`` whatever is asked.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor


def opencv_supports(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether OpenCV can transform tensors of this device and dtype (CPU, complex64 or complex128)."""
    return device.type == "cpu" and dtype in (torch.complex64, torch.complex128)


def _planes(x: Tensor) -> np.ndarray:
    """``x`` [..., H, W] complex as a float array [..., H, W, 2] sharing its memory (rows must be dense)."""
    return torch.view_as_real(x.detach().resolve_conj().resolve_neg()).numpy()


def _torch_dft2(x: Tensor, inverse: bool) -> Tensor:
    return torch.fft.ifft2(x, norm="forward") if inverse else torch.fft.fft2(x)


def dft2(x: Tensor, inverse: bool = False, out: Tensor | None = None, *, opencv: bool = False) -> Tensor:
    """Unnormalised 2-D DFT of a complex ``x`` [..., H, W]: ``torch.fft.fft2(x)`` (kernel e^{-i w.j}) or,
    with ``inverse``, ``torch.fft.ifft2(x, norm="forward")`` (kernel e^{+i w.j}, no 1/(H W)).

    ``opencv`` transforms through OpenCV where it can (CPU, complex, dense rows), else through ``torch.fft``.
    ``out`` (same shape and dtype) receives the result and may be ``x`` itself (an in-place transform).
    Not differentiable: for the hand-written gradients of :mod:`blurbench.ops.reblur_fft`.
    """
    if out is not None and (out.shape != x.shape or out.dtype != x.dtype):
        raise ValueError(f"dft2: out has shape {tuple(out.shape)} {out.dtype}, expected {tuple(x.shape)} {x.dtype}")
    if x.numel() == 0:  # (MKL rejects empty transforms)
        return torch.empty_like(x) if out is None else out
    opencv = opencv and x.dim() >= 2 and opencv_supports(x.device, x.dtype) and x.stride(-1) == 1
    if out is not None:  # OpenCV must write into out's own memory: dense rows, no lazy conj/neg bit
        opencv = opencv and out.stride(-1) == 1 and not (out.is_conj() or out.is_neg())
    if not opencv:
        y = _torch_dft2(x, inverse)
        return y if out is None else out.copy_(y)
    flags = cv2.DFT_COMPLEX_OUTPUT | (cv2.DFT_INVERSE if inverse else 0)
    if out is None:
        out = torch.empty(x.shape, dtype=x.dtype)
    src, dst = _planes(x), _planes(out)
    for i in np.ndindex(src.shape[:-3]):  # OpenCV transforms one 2-D plane (rows may be strided) per call
        d = dst[i]
        r = cv2.dft(src[i], dst=d, flags=flags)
        if r is not d:  # OpenCV made its own array (it should not for a matching dst): keep the contract
            d[...] = r
    return out


def dft2_overwrite(x: Tensor, inverse: bool = False, *, opencv: bool = False) -> Tensor:
    """:func:`dft2` of ``x`` when ``x`` is not needed afterwards: in place with OpenCV, a new tensor from
    ``torch.fft`` (which has no in-place transform: its ``out=`` is a copy, ~0.1 ms per 288² complex tile)."""
    if opencv and x.numel() and x.dim() >= 2 and opencv_supports(x.device, x.dtype) and x.stride(-1) == 1 \
            and not (x.is_conj() or x.is_neg()):
        return dft2(x, inverse, out=x, opencv=True)
    return dft2(x, inverse)
