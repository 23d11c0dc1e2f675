"""Two-headed U-Net for non-uniform motion-blur kernel estimation (Carbajal et al. 2021).

Paper: G. Carbajal, P. Vitoria, M. Delbracio, P. Musé, J. Lezama, "Non-uniform Blur Kernel Estimation via
Adaptive Basis Decomposition", arXiv:2102.01026 (2021).
Official code: https://github.com/GuillermoCarbajal/NonUniformBlurKernelEstimation, class ``TwoHeadsNetwork``
in ``models/TwoHeadsNetwork.py`` at HEAD (2f91308, file last changed in 9c05bf1). The same module tree is in
the J-MKPD repository and in deepinv's ``KernelIdentificationNetwork`` (``deepinv/models/kernel_network.py``).
The CVPR-submission variant (commit 35cf738, fully connected kernel head, 302.9M parameters) is NOT this one.

Weights: Hub repo ``deepinv/kernel_identification``, file ``carbajal_kernel_identification_network.pth``, a
plain state dict in the HEAD key layout that loads with ``strict=True`` into :func:`blurfield_carbajal2021`
(79,829,298 parameters in 118 tensors).

Blur model (the network's output convention)::

    v = sum_b m_b * (u ⋆ k_b)        (per colour channel, ⋆ = cross-correlation as F.conv2d computes it)

with ``kernels`` k_b [N, B, K, K] (softmax over the K² taps, so each sums to 1) and ``mixing`` m_b
[N, B, H, W] (softmax over B, so the maps sum to 1 at every pixel). The official re-blurring code
(``utils/reblur.py``) applies the kernels with ``F.conv2d`` without flipping them, so they are correlation
kernels; :func:`blurbench.ops.reblur.reblur` uses the same convention. (deepinv flips them to convolution
kernels before returning them.)

Input convention. The official scripts (``compute_kernels.py``, ``image_deblurring.py``) feed the network
``x ** gamma - 0.5`` where ``x`` is the RGB image in [0, 1] and ``gamma`` = 2.2 (an approximate inverse sRGB
curve; use 1.0 for the linear Köhler images). That step lives OUTSIDE the official network; here it is the
explicit :meth:`BlurFieldNet.preprocess`:

- :meth:`BlurFieldNet.forward` takes the image in [0, 1] and applies :meth:`~BlurFieldNet.preprocess` itself;
- :meth:`BlurFieldNet.forward_preprocessed` is the bare official network (expects ``x ** gamma - 0.5``).

Size constraints: any H, W >= 32 (five 2× max-pools); odd sizes are fine because every decoder block
zero-pads its upsampled input to the size of its skip connection, exactly as the official ``Up`` block does.
The depth (five levels) is fixed by the kernel head, whose 1 → 32 px decoder uses all five skips.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BlurFieldNet",
    "CARBAJAL2021_NUM_PARAMS",
    "CARBAJAL2021_NUM_TENSORS",
    "blurfield_carbajal2021",
    "blurfield_small",
]

#: Parameter count and number of state-dict tensors of the released network (K = 33, B = 25, width 64).
CARBAJAL2021_NUM_PARAMS = 79_829_298
CARBAJAL2021_NUM_TENSORS = 118

_LEAKY_SLOPE = 0.01  # nn.LeakyReLU() default, as in the official code


def _conv_act(in_ch: int, out_ch: int, kernel_size: int = 3, padding: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, kernel_size=kernel_size, padding=padding), nn.LeakyReLU(_LEAKY_SLOPE)]


class Down(nn.Module):
    """Two 3×3 conv + LeakyReLU, then a 2× max-pool. Returns (features before pooling, pooled)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.double_conv = nn.Sequential(*_conv_act(in_ch, out_ch), *_conv_act(out_ch, out_ch))
        self.down_sampling = nn.MaxPool2d(2)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        feat = self.double_conv(x)
        return feat, self.down_sampling(feat)


class Up(nn.Module):
    """2× transposed conv, two 3×3 convs, pad to the skip, concatenate (skip first), one 3×3 conv.

    ``skip_ch = 0`` builds a block without skip connection (the extra kernel block for K = 65).
    """

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, in_ch, kernel_size=2, stride=2)
        self.double_conv = nn.Sequential(*_conv_act(in_ch, out_ch), *_conv_act(out_ch, out_ch))
        self.feat = nn.Sequential(*_conv_act(skip_ch + out_ch, out_ch))

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        x = self.double_conv(self.up(x))
        if skip is not None:
            dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
            # zero padding (F.pad crops for negative amounts), split as in the official Up block
            x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
            x = torch.cat([skip, x], dim=1)
        return self.feat(x)


def _pooled_skip(x: Tensor, size: int) -> Tensor:
    """Global average pool, tiled to size × size (the official ``PooledSkip``; it has no parameters)."""
    return x.mean((2, 3), keepdim=True).expand(-1, -1, size, size)


class BlurFieldNet(nn.Module):
    """Two-headed U-Net predicting B kernels of size K × K and B per-pixel mixing maps.

    Module names and shapes follow the official ``TwoHeadsNetwork`` (HEAD), so the released state dict
    loads with ``strict=True``: stems ``inc_rgb`` (3 → w0) and ``inc_gray`` (1 → w0), encoder
    ``down1..down5``, bottleneck ``feat``; mixing head ``up1..up5`` + ``masks_end``; kernel head
    ``kernel_up1..kernel_up5`` (+ ``kernel_up6`` for K = 65) fed with the globally pooled bottleneck and
    tiled pooled skips, then ``kernels_end``.

    Args:
        kernel_size: K, the kernel support; 2**n + 1 with n >= 5 (official: 33; 65 adds ``kernel_up6``).
        num_basis: B, the number of basis kernels / mixing maps (official: 25).
        base_width: w0; the encoder widths are (w0, 2w0, 4w0, 8w0, 16w0) (official: 64).
        gamma: exponent of :meth:`preprocess` (2.2 for sRGB images, 1.0 for linear images such as Köhler).
        init: initialisation for training from scratch: ``"kaiming"`` (default; He normal for LeakyReLU, fan-in,
            zero biases) or ``"torch"`` (PyTorch's layer defaults). Loaded weights replace either. The network
            has no normalisation layers and ~30 convolutions on the kernel path; with PyTorch's defaults the
            image-dependent part of the activations fades layer after layer (at the kernel head, two different
            images give outputs differing by ~1e-5 of their size, measured), and training settles on one
            image-independent mean kernel.

    Inputs: ``forward(x)`` with ``x`` [N, 3, H, W] (or [N, 1, H, W], grayscale stem) in [0, 1], H, W >= 32.
    Outputs: ``(kernels [N, B, K, K], mixing [N, B, H, W])``, correlation kernels summing to 1 and maps
    summing to 1 over B.
    """

    def __init__(self, kernel_size: int = 33, num_basis: int = 25, base_width: int = 64, gamma: float = 2.2,
                 init: str = "kaiming") -> None:
        super().__init__()
        levels = math.log2(kernel_size - 1) if kernel_size > 1 else 0.0
        if not levels.is_integer() or levels < 5:
            raise ValueError(f"kernel_size must be 2**n + 1 with n >= 5 (33, 65, ...), got {kernel_size}")
        if init not in ("kaiming", "torch"):
            raise ValueError(f"init must be 'kaiming' or 'torch', got {init!r}")
        if num_basis < 1 or base_width < 1:
            raise ValueError(f"num_basis and base_width must be positive, got {num_basis}, {base_width}")
        self.kernel_size = kernel_size
        self.num_basis = num_basis
        self.base_width = base_width
        self.gamma = float(gamma)
        w0, w1, w2, w3, w4 = (base_width * 2**i for i in range(5))

        self.inc_rgb = nn.Sequential(*_conv_act(3, w0))
        self.inc_gray = nn.Sequential(*_conv_act(1, w0))
        self.down1 = Down(w0, w0)
        self.down2 = Down(w0, w1)
        self.down3 = Down(w1, w2)
        self.down4 = Down(w2, w3)
        self.down5 = Down(w3, w4)
        self.feat = nn.Sequential(*_conv_act(w4, w4))

        # mixing-map head (a plain U-Net decoder)
        self.up1 = Up(w4, w4, w3)
        self.up2 = Up(w3, w3, w2)
        self.up3 = Up(w2, w2, w1)
        self.up4 = Up(w1, w1, w0)
        self.up5 = Up(w0, w0, w0)
        self.masks_end = nn.Sequential(*_conv_act(w0, w0), *_conv_act(w0, w0), nn.Conv2d(w0, num_basis, 3, padding=1))

        # kernel head: 1 → 2 → 4 → 8 → 16 → 32 px, skips are pooled encoder features tiled to the current size
        self.kernel_up1 = Up(w4, w4, w3)
        self.kernel_up2 = Up(w3, w3, w2)
        self.kernel_up3 = Up(w2, w2, w2)
        self.kernel_up4 = Up(w2, w1, w1)
        self.kernel_up5 = Up(w1, w0, w0)
        for i in range(int(levels) - 5):  # K = 65 -> kernel_up6 (no skip), as in the official code
            self.add_module(f"kernel_up{6 + i}", Up(w0, 0, w0))
        self._num_extra_kernel_ups = int(levels) - 5
        # the 2×2 conv with padding 1 turns 2**n px into 2**n + 1 = K px
        self.kernels_end = nn.Sequential(
            *_conv_act(w0, w0, kernel_size=2, padding=1),
            *_conv_act(w0, w0),
            nn.Conv2d(w0, num_basis, 3, padding=1),
        )
        if init == "kaiming":
            for module in self.modules():
                if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                    nn.init.kaiming_normal_(module.weight, a=_LEAKY_SLOPE, nonlinearity="leaky_relu")
                    nn.init.zeros_(module.bias)

    # ------------------------------------------------------------------------------------------ api
    def preprocess(self, x: Tensor) -> Tensor:
        """Map an image in [0, 1] to the network input ``x ** gamma - 0.5`` (done outside the official net).

        Values below 0 are clamped to 0 first (a no-op for valid images; avoids NaN from fractional powers).
        """
        return x.clamp_min(0.0).pow(self.gamma) - 0.5

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Image in [0, 1], [N, 3 or 1, H, W] → (kernels [N, B, K, K], mixing [N, B, H, W])."""
        return self.forward_preprocessed(self.preprocess(x))

    def forward_preprocessed(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """The official network: ``z = x ** gamma - 0.5`` → (kernels, mixing)."""
        if z.dim() != 4 or z.shape[1] not in (1, 3):
            raise ValueError(f"expected [N, 3, H, W] or [N, 1, H, W], got shape {tuple(z.shape)}")
        if min(z.shape[-2:]) < 32:
            raise ValueError(f"H and W must be >= 32 (five 2x poolings), got {tuple(z.shape[-2:])}")
        x1 = self.inc_rgb(z) if z.shape[1] == 3 else self.inc_gray(z)
        f1, x2 = self.down1(x1)
        f2, x3 = self.down2(x2)
        f3, x4 = self.down3(x3)
        f4, x5 = self.down4(x4)
        f5, x6 = self.down5(x5)
        f6 = self.feat(x6)
        return self._kernel_head(f1, f2, f3, f4, f5, f6), self._mixing_head(f1, f2, f3, f4, f5, f6)

    # -------------------------------------------------------------------------------------- heads
    def _kernel_head(self, f1: Tensor, f2: Tensor, f3: Tensor, f4: Tensor, f5: Tensor, f6: Tensor) -> Tensor:
        k = self.kernel_up1(f6.mean((2, 3), keepdim=True), _pooled_skip(f5, 2))
        k = self.kernel_up2(k, _pooled_skip(f4, 4))
        k = self.kernel_up3(k, _pooled_skip(f3, 8))
        k = self.kernel_up4(k, _pooled_skip(f2, 16))
        k = self.kernel_up5(k, _pooled_skip(f1, 32))
        for i in range(self._num_extra_kernel_ups):
            k = getattr(self, f"kernel_up{6 + i}")(k)
        k = self.kernels_end(k)  # [N, B, K, K]
        n, b, kk = k.shape[0], self.num_basis, self.kernel_size
        return torch.softmax(k.reshape(n, b, kk * kk), dim=2).reshape(n, b, kk, kk)

    def _mixing_head(self, f1: Tensor, f2: Tensor, f3: Tensor, f4: Tensor, f5: Tensor, f6: Tensor) -> Tensor:
        m = self.up1(f6, f5)
        m = self.up2(m, f4)
        m = self.up3(m, f3)
        m = self.up4(m, f2)
        m = self.up5(m, f1)
        return torch.softmax(self.masks_end(m), dim=1)


# ------------------------------------------------------------------------------------------- factories
def blurfield_carbajal2021(gamma: float = 2.2) -> BlurFieldNet:
    """The released network (K = 33, B = 25, width 64; 79,829,298 parameters).

    Weights: ``deepinv/kernel_identification`` / ``carbajal_kernel_identification_network.pth`` (strict load).
    ``gamma`` = 2.2 for sRGB images (GoPro, DVD, RealBlur, Lai), 1.0 for Köhler.
    """
    return BlurFieldNet(kernel_size=33, num_basis=25, base_width=64, gamma=gamma)


def blurfield_small(gamma: float = 2.2) -> BlurFieldNet:
    """A CPU-trainable variant with the same structure (K = 33, B = 25, width 10; about 2.0M parameters)."""
    return BlurFieldNet(kernel_size=33, num_basis=25, base_width=10, gamma=gamma)
