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
the same map on the fastest path for the problem and the machine, chosen at run time (the tiled FFT engine of
:mod:`blurbench.ops.reblur_fft` in several variants, or the direct one; see
:mod:`blurbench.ops.reblur_autotune`, ``BLURBENCH_REBLUR_PATH`` forces one); ``reblur_adjoint`` is its exact
adjoint, including the adjoint of the padding. :class:`BlurField` is the same forward model as a
:class:`~blurbench.ops.linear_operator.LinearOperator` (``A`` = ``reblur``, ``A_adjoint`` = ``reblur_adjoint``), the
form every solver and loss takes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from blurbench.ops import reblur_autotune as autotune
from blurbench.ops.linear_operator import LinearOperator
from blurbench.ops.reblur_autotune import Path
from blurbench.ops.reblur_fft import Plan, pad, pad_adjoint, pad_sizes, tile_pass

__all__ = ["PADDINGS", "BlurField", "pad_sizes", "pixel_kernels", "problem_key", "reblur", "reblur_adjoint",
           "reblur_reference"]

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


def _adjoint_reference(blurry: Tensor, kernels: Tensor, mixing: Tensor, padding: str) -> Tensor:
    """Direct adjoint: ``conv_transpose2d`` (the transpose of the reference's ``conv2d``) of the masked copies
    ``m_b v_c``, summed over B by the transposed convolution, then the padding adjoint. Differentiable by
    autograd; holds the [C, B, Ho, Wo] stack of masked copies per sample."""
    k = kernels.shape[-1]
    a = torch.stack([F.conv_transpose2d(blurry[i].unsqueeze(1) * mixing[i].unsqueeze(0), kernels[i].unsqueeze(1))
                     [:, 0] for i in range(blurry.shape[0])])
    return pad_adjoint(a, k, padding)


# ---------------------------------------------------------------------------------------------- autograd
def _plan(path: Path, mixing: Tensor, k: int) -> Plan:
    return Plan(*mixing.shape[-2:], k, path.tile, path.transform == "opencv")


class _ReblurFn(torch.autograd.Function):
    """FFT re-blur; backward = tiled adjoint (sharp) and correlations (kernels, mixing), exact."""

    @staticmethod
    def forward(ctx, sharp: Tensor, kernels: Tensor, mixing: Tensor, padding: str, path: Path) -> Tensor:
        ctx.save_for_backward(sharp, kernels, mixing)
        ctx.padding, ctx.path = padding, path
        plan = _plan(path, mixing, kernels.shape[-1])
        return tile_pass(sharp, padding, None, kernels, mixing, plan, path.threaded, fwd=True)["y"]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        sharp, kernels, mixing = ctx.saved_tensors
        need_u, need_k, need_m = ctx.needs_input_grad[:3]
        plan = _plan(ctx.path, mixing, kernels.shape[-1])
        u = sharp if (need_k or need_m) else None
        res = tile_pass(u, ctx.padding, grad, kernels, mixing, plan, ctx.path.threaded, adj=need_u, gk=need_k,
                        gm=need_m)
        return res.get("a"), res.get("gk"), res.get("gm"), None, None


class _ReblurAdjointFn(torch.autograd.Function):
    """FFT adjoint; its backward is the forward map (blurry) and the same correlations (kernels, mixing)."""

    @staticmethod
    def forward(ctx, blurry: Tensor, kernels: Tensor, mixing: Tensor, padding: str, path: Path) -> Tensor:
        ctx.save_for_backward(blurry, kernels, mixing)
        ctx.padding, ctx.path = padding, path
        plan = _plan(path, mixing, kernels.shape[-1])
        return tile_pass(None, padding, blurry, kernels, mixing, plan, path.threaded, adj=True)["a"]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        blurry, kernels, mixing = ctx.saved_tensors
        need_v, need_k, need_m = ctx.needs_input_grad[:3]
        plan = _plan(ctx.path, mixing, kernels.shape[-1])
        res = tile_pass(grad, ctx.padding, blurry, kernels, mixing, plan, ctx.path.threaded, fwd=need_v, gk=need_k,
                        gm=need_m)
        return res.get("y"), res.get("gk"), res.get("gm"), None, None


def _run(op: str, path: Path, x: Tensor, kernels: Tensor, mixing: Tensor, padding: str) -> Tensor:
    """``op`` ("reblur" or "adjoint") of ``x`` on ``path``."""
    if path.transform == "direct":
        fn = reblur_reference if op == "reblur" else _adjoint_reference
        return fn(x, kernels, mixing, padding)
    fn = _ReblurFn if op == "reblur" else _ReblurAdjointFn
    return fn.apply(x, kernels, mixing, padding, path)


def _grads(inputs: tuple[Tensor, ...]) -> tuple[bool, ...]:
    """Which inputs the call will differentiate (none outside grad mode)."""
    return tuple(t.requires_grad for t in inputs) if torch.is_grad_enabled() else (False,) * len(inputs)


def problem_key(op: str, x: Tensor, kernels: Tensor, mixing: Tensor, padding: str) -> tuple:
    """What the path choice depends on: the operation, which inputs need gradients, shapes, K, B, padding,
    dtype, device and torch's thread count (the key of :func:`blurbench.ops.reblur_autotune.chosen`)."""
    grads = "".join("TF"[not g] for g in _grads((x, kernels, mixing)))
    return (op, f"grad={grads}", tuple(x.shape), f"K={kernels.shape[-1]}", f"B={kernels.shape[1]}", padding,
            str(x.dtype).removeprefix("torch."), str(x.device), f"threads={torch.get_num_threads()}")


def _choose(op: str, x: Tensor, kernels: Tensor, mixing: Tensor, padding: str) -> Path:
    """The path of this call (forced, chosen before, or timed now on detached copies of the inputs)."""
    grads = _grads((x, kernels, mixing))
    k = kernels.shape[-1]

    def trial(path: Path, inputs: tuple[Tensor, ...] = (x, kernels, mixing), pad_mode: str = padding) -> None:
        if not any(grads):
            with torch.no_grad():
                _run(op, path, *inputs, pad_mode)
            return
        with torch.enable_grad():
            args = [t.detach().requires_grad_(g) for t, g in zip(inputs, grads)]
            out = _run(op, path, *args, pad_mode)
            torch.autograd.grad(out, [a for a, g in zip(args, grads) if g], torch.ones_like(out))

    def direct_estimate(limit: float) -> float | None:
        """None (time it in full) when the FFT paths take little time; else the direct path's seconds
        extrapolated from a band of output rows (cost ∝ output rows), the better of two runs (the first pays
        for set-up) unless the first already extrapolates to over 10x ``limit``."""
        if limit <= autotune._DIRECT_FULL_S:
            return None
        ho = mixing.shape[-2]
        rows = -(-ho // autotune._DIRECT_BAND)
        with torch.no_grad():
            m = mixing[..., :rows, :]
            if op == "reblur":  # the band's input rows, padded as the whole image is: a 'valid' problem
                band = (pad(x, k, padding)[..., : rows + k - 1, :], kernels, m)
            else:
                band = (x[..., :rows, :], kernels, m)
        scale = ho / rows
        first = autotune._seconds(lambda: trial(autotune.DIRECT, band, "valid"), x.device) * scale
        if first >= 10 * limit:
            return first
        return min(first, autotune._seconds(lambda: trial(autotune.DIRECT, band, "valid"), x.device) * scale)

    def plan_of(path: Path) -> tuple[int, ...]:
        p = _plan(path, mixing, k)
        return p.nh, p.fh, p.nw, p.fw

    key = problem_key(op, x, kernels, mixing, padding)
    family = key[:2] + key[3:]  # all but the shape: (N, C, H, W) enter as the work size
    work = float(x.shape[0] * x.shape[1] * mixing[0].numel())  # N·C·B·Ho·Wo
    return autotune.choose(key, x.device, trial, plan_of, direct_estimate, family, work)


def _call(op: str, x: Tensor, kernels: Tensor, mixing: Tensor, padding: str) -> Tensor:
    """Run ``op`` on the chosen path, in float32 for reduced-precision inputs (no half-precision FFT on CPU)."""
    dtype = x.dtype
    if dtype not in (torch.float32, torch.float64):
        x, kernels, mixing = x.float(), kernels.float(), mixing.float()
    path = _choose(op, x, kernels, mixing, padding)
    out = _run(op, path, x, kernels, mixing, padding)
    autotune.record(path)
    return out.to(dtype)


def reblur(sharp: Tensor, kernels: Tensor, mixing: Tensor, padding: str = "reflect") -> Tensor:
    """Space-varying re-blur ``v_c = sum_b m_b * (u_c ⋆ k_b)`` (``⋆`` = ``F.conv2d`` correlation).

    Computed on the fastest path for this problem on this machine (:mod:`blurbench.ops.reblur_autotune`:
    tiled overlap-save FFTs with exact hand-written gradients, or the direct grouped ``conv2d``); equals
    :func:`reblur_reference` to float rounding and is differentiable in all three inputs.

    Args:
        sharp: [N, C, H, W] sharp image.
        kernels: [N, B, K, K] kernel basis (shared by all channels, need not sum to 1).
        mixing: [N, B, Ho, Wo] mixing maps at the output size (H×W, or (H-K+1)×(W-K+1) for "valid").
        padding: one of ``PADDINGS``; see the module docstring for the conventions.

    Returns:
        [N, C, Ho, Wo] blurry image.
    """
    _check(tuple(sharp.shape[-2:]), sharp, kernels, mixing, padding, "sharp")
    return _call("reblur", sharp, kernels, mixing, padding)


def reblur_adjoint(blurry: Tensor, kernels: Tensor, mixing: Tensor, padding: str = "reflect") -> Tensor:
    """Exact adjoint ``A^T`` of ``u -> reblur(u, kernels, mixing, padding)``: ``<A u, v> = <u, A^T v>``.

    ``A^T v = P^T sum_b k_b * (m_b v)`` (full convolution, then the padding adjoint ``P^T`` folds the padded
    values back onto the pixels they copy). ``blurry`` is [N, C, Ho, Wo]; returns the sharp size: Ho×Wo for the
    padded modes, (Ho + K - 1)×(Wo + K - 1) for "valid". Differentiable in all three inputs; same paths as
    :func:`reblur`.
    """
    if blurry.dim() != 4:
        raise ValueError(f"blurry must be [N, C, Ho, Wo], got shape {tuple(blurry.shape)}")
    k = kernels.shape[-1] if kernels.dim() == 4 else 1
    ho, wo = blurry.shape[-2:]
    sharp_hw = (ho + k - 1, wo + k - 1) if padding == "valid" else (ho, wo)
    _check(sharp_hw, blurry, kernels, mixing, padding, "blurry")
    return _call("adjoint", blurry, kernels, mixing, padding)


# ---------------------------------------------------------------------------------------------- operator
class BlurField(LinearOperator):
    """The blur field as a linear operator: ``A u = reblur(u, kernels, mixing, padding)``, ``Aᵀ = reblur_adjoint``.

    ``kernels`` [N, B, K, K], ``mixing`` [N, B, Ho, Wo] at the OUTPUT (blurry) size; ``padding`` one of
    ``PADDINGS`` (with ``"valid"`` the input is (Ho + K − 1)×(Wo + K − 1)). Uniform blur is the case B = 1 with
    mixing maps of ones (:meth:`uniform`). Holds references to the tensors (no copy), so gradients flow into them.
    """

    def __init__(self, kernels: Tensor, mixing: Tensor, padding: str = "reflect") -> None:
        if padding not in PADDINGS:
            raise ValueError(f"unknown padding {padding!r}; expected one of {PADDINGS}")
        self.kernels, self.mixing, self.padding = kernels, mixing, padding

    @classmethod
    def uniform(cls, kernel: Tensor, size: tuple[int, int], padding: str = "reflect") -> BlurField:
        """One kernel everywhere: ``kernel`` [K, K] or [N, K, K], blurry size ``size`` (Ho, Wo)."""
        k = kernel[None] if kernel.dim() == 2 else kernel
        return cls(k[:, None], k.new_ones(k.shape[0], 1, *size), padding)

    @property
    def kernel_size(self) -> int:
        """K."""
        return self.kernels.shape[-1]

    def with_padding(self, padding: str) -> BlurField:
        """The same kernels and maps with another boundary model."""
        return BlurField(self.kernels, self.mixing, padding)

    def interior(self) -> BlurField:
        """The field restricted to the output pixels whose K×K support lies inside an image of the mixing's size:
        mixing centre-cropped by ``pad_sizes(K)``, ``"valid"`` (maps Ho×Wo to (Ho − K + 1)×(Wo − K + 1))."""
        before, after = pad_sizes(self.kernel_size)
        h, w = self.mixing.shape[-2:]
        return BlurField(self.kernels, self.mixing[..., before:h - after, before:w - after], "valid")

    def A(self, x: Tensor) -> Tensor:
        return reblur(x, self.kernels, self.mixing, self.padding)

    def A_adjoint(self, y: Tensor) -> Tensor:
        return reblur_adjoint(y, self.kernels, self.mixing, self.padding)


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
