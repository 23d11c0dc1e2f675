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

from blurbench.ops.reblur_fft import Plan, pad, pad_sizes, tile_pass

__all__ = ["PADDINGS", "pad_sizes", "pixel_kernels", "reblur", "reblur_adjoint", "reblur_reference"]

PADDINGS = ("reflect", "replicate", "zeros", "valid")


# ----------------------------------------------------------------------------------------------- checks
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


# ------------------------------------------------------------------------------------------- reference
def reblur_reference(sharp: Tensor, kernels: Tensor, mixing: Tensor, padding: str = "reflect") -> Tensor:
    """Direct re-blur the official code's way: ``F.conv2d`` of each colour channel with weight (B, 1, K, K)
    (the channels batched into one call per sample), multiply by the masks, sum over B.

    Same conventions and shapes as :func:`reblur`; holds the [N, C, B, Ho, Wo] stack of blurred copies.
    """
    _check(tuple(sharp.shape[-2:]), sharp, kernels, mixing, padding, "sharp")
    k = kernels.shape[-1]
    x = pad(sharp, k, padding)
    y = torch.stack([F.conv2d(x[i].unsqueeze(1), kernels[i].unsqueeze(1)) for i in range(x.shape[0])])
    return (y * mixing.unsqueeze(1)).sum(2)


# ---------------------------------------------------------------------------------------------- autograd
class _ReblurFn(torch.autograd.Function):
    """FFT re-blur; backward = tiled adjoint (sharp) and correlations (kernels, mixing), exact."""

    @staticmethod
    def forward(ctx, sharp: Tensor, kernels: Tensor, mixing: Tensor, padding: str) -> Tensor:
        ctx.save_for_backward(sharp, kernels, mixing)
        ctx.padding = padding
        plan = Plan(*mixing.shape[-2:], kernels.shape[-1], sharp.device)
        return tile_pass(sharp, padding, None, kernels, mixing, plan, fwd=True)["y"]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        sharp, kernels, mixing = ctx.saved_tensors
        need_u, need_k, need_m = ctx.needs_input_grad[:3]
        plan = Plan(*mixing.shape[-2:], kernels.shape[-1], sharp.device)
        u = sharp if (need_k or need_m) else None
        res = tile_pass(u, ctx.padding, grad, kernels, mixing, plan, adj=need_u, gk=need_k, gm=need_m)
        return res.get("a"), res.get("gk"), res.get("gm"), None


class _ReblurAdjointFn(torch.autograd.Function):
    """FFT adjoint; its backward is the forward map (blurry) and the same correlations (kernels, mixing)."""

    @staticmethod
    def forward(ctx, blurry: Tensor, kernels: Tensor, mixing: Tensor, padding: str) -> Tensor:
        ctx.save_for_backward(blurry, kernels, mixing)
        ctx.padding = padding
        plan = Plan(*mixing.shape[-2:], kernels.shape[-1], blurry.device)
        return tile_pass(None, padding, blurry, kernels, mixing, plan, adj=True)["a"]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        blurry, kernels, mixing = ctx.saved_tensors
        need_v, need_k, need_m = ctx.needs_input_grad[:3]
        plan = Plan(*mixing.shape[-2:], kernels.shape[-1], blurry.device)
        res = tile_pass(grad, ctx.padding, blurry, kernels, mixing, plan, fwd=need_v, gk=need_k, gm=need_m)
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
