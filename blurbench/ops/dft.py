"""Unnormalised 2-D DFTs of complex tensors over their last two dimensions, on CPU through OpenCV.

torch's CPU FFT is MKL. On this project's machine (AMD EPYC with AVX-512, 2 cores) OpenCV's DFT (Intel IPP
inside the opencv-python wheels) transforms a 288² complex64 tile in 0.094 ms against 0.215 ms for
``torch.fft.ifft2``, and 0.22 vs 0.40 ms in complex128 (``python bench/bench_dft.py`` prints the ratios).
OpenCV releases the GIL during the transform, so Python helper threads run them in parallel. Other devices,
real inputs and other layouts go to ``torch.fft``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

_USE_OPENCV = True  # tests switch it off to compare both paths


def uses_opencv(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether :func:`dft2` transforms tensors of this device and dtype with OpenCV (else ``torch.fft``)."""
    return _USE_OPENCV and device.type == "cpu" and dtype in (torch.complex64, torch.complex128)


def _planes(x: Tensor) -> np.ndarray:
    """``x`` [..., H, W] complex as a float array [..., H, W, 2] sharing its memory (rows must be dense)."""
    return torch.view_as_real(x.detach().resolve_conj().resolve_neg()).numpy()


def dft2(x: Tensor, inverse: bool = False, out: Tensor | None = None) -> Tensor:
    """Unnormalised 2-D DFT of a complex ``x`` [..., H, W]: ``torch.fft.fft2(x)`` (kernel e^{-i w.j}) or,
    with ``inverse``, ``torch.fft.ifft2(x, norm="forward")`` (kernel e^{+i w.j}, no 1/(H W)).

    ``out`` (same shape and dtype) receives the result and may be ``x`` itself (an in-place transform).
    Not differentiable: for the hand-written gradients of :mod:`blurbench.ops.reblur_fft`.
    """
    if out is not None and (out.shape != x.shape or out.dtype != x.dtype):
        raise ValueError(f"dft2: out has shape {tuple(out.shape)} {out.dtype}, expected {tuple(x.shape)} {x.dtype}")
    if x.numel() == 0:  # (MKL rejects empty transforms)
        return torch.empty_like(x) if out is None else out
    opencv = x.dim() >= 2 and uses_opencv(x.device, x.dtype) and x.stride(-1) == 1
    if out is not None:  # OpenCV must write into out's own memory: dense rows, no lazy conj/neg bit
        opencv = opencv and out.stride(-1) == 1 and not (out.is_conj() or out.is_neg())
    if not opencv:
        y = torch.fft.ifft2(x, norm="forward") if inverse else torch.fft.fft2(x)
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
