"""DRUNet: the noise-level-conditioned residual U-Net denoiser of DPIR (Zhang et al.).

Paper: K. Zhang, Y. Li, W. Zuo, L. Zhang, L. Van Gool, R. Timofte, "Plug-and-Play Image Restoration with Deep
Denoiser Prior", IEEE TPAMI 2021 (arXiv:2008.13751).
Official code: https://github.com/cszn/KAIR (and cszn/DPIR), class ``UNetRes`` in ``models/network_unet.py``
(KAIR HEAD fc1732f) with the blocks of ``models/basicblock.py`` (``conv``, ``ResBlock``,
``downsample_strideconv``, ``upsample_convtranspose``), instantiated as ``UNetRes(in_nc=4, out_nc=3,
nc=[64, 128, 256, 512], nb=4, act_mode='R', downsample_mode='strideconv', upsample_mode='convtranspose',
bias=False)``.
Weights: ``drunet_color.pth`` (Hub repo ``deepinv/drunet``; also in the DPIR model zoo), a plain state dict
that loads with ``strict=True`` into :func:`drunet_color` (keys ``m_head``, ``m_down1..3``, ``m_body``,
``m_up3..1``, ``m_tail``).

Input: the RGB image in [0, 1] and the noise standard deviation ``sigma`` in the same [0, 1] units (so
7.65/255 for the 7.65 level of the 0..255 scale); the network sees ``cat([x, sigma map])`` (4 channels).
Size: three 2× stride-2 levels need H, W divisible by 8. :meth:`DRUNet.forward` replicate-pads bottom/right
to a multiple of ``pad_multiple`` (16, as KAIR's ``utils_model.test_mode(mode=1, modulo=16)`` which Carbajal
et al. used for deblurring) and crops back, so any size works. :meth:`DRUNet.forward_unet` is the bare
network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DRUNet", "ResBlock", "drunet_color", "drunet_gray"]


class ResBlock(nn.Module):
    """x + conv3(relu(conv3(x))), bias-free (KAIR ``ResBlock`` with mode 'CRC'; submodule ``res``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.res = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res(x)


class DRUNet(nn.Module):
    """Residual U-Net with a noise-level input channel (KAIR ``UNetRes``), official key layout.

    Args:
        in_channels: image channels (3 colour, 1 gray); the network input has ``in_channels + 1`` channels.
        out_channels: output channels.
        nc: widths of the four levels.
        nb: residual blocks per level.
        pad_multiple: :meth:`forward` pads H and W (replicate, bottom/right) to a multiple of this; must be a
            multiple of 8.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        nc: Sequence[int] = (64, 128, 256, 512),
        nb: int = 4,
        pad_multiple: int = 16,
    ) -> None:
        super().__init__()
        if len(nc) != 4:
            raise ValueError(f"nc must have 4 widths, got {nc}")
        if pad_multiple < 8 or pad_multiple % 8:
            raise ValueError(f"pad_multiple must be a positive multiple of 8, got {pad_multiple}")
        self.in_channels, self.out_channels, self.pad_multiple = in_channels, out_channels, pad_multiple
        c0, c1, c2, c3 = nc

        def res(c: int) -> list[nn.Module]:
            return [ResBlock(c) for _ in range(nb)]

        def down(ci: int, co: int) -> nn.Module:
            return nn.Conv2d(ci, co, kernel_size=2, stride=2, bias=False)

        def up(ci: int, co: int) -> nn.Module:
            return nn.ConvTranspose2d(ci, co, kernel_size=2, stride=2, bias=False)

        self.m_head = nn.Conv2d(in_channels + 1, c0, 3, padding=1, bias=False)
        self.m_down1 = nn.Sequential(*res(c0), down(c0, c1))
        self.m_down2 = nn.Sequential(*res(c1), down(c1, c2))
        self.m_down3 = nn.Sequential(*res(c2), down(c2, c3))
        self.m_body = nn.Sequential(*res(c3))
        self.m_up3 = nn.Sequential(up(c3, c2), *res(c2))
        self.m_up2 = nn.Sequential(up(c2, c1), *res(c1))
        self.m_up1 = nn.Sequential(up(c1, c0), *res(c0))
        self.m_tail = nn.Conv2d(c0, out_channels, 3, padding=1, bias=False)

    def forward_unet(self, x0: Tensor) -> Tensor:
        """The bare network on ``cat([image, sigma map])``; H and W must be multiples of 8."""
        x1 = self.m_head(x0)
        x2 = self.m_down1(x1)
        x3 = self.m_down2(x2)
        x4 = self.m_down3(x3)
        x = self.m_body(x4)
        x = self.m_up3(x + x4)
        x = self.m_up2(x + x3)
        x = self.m_up1(x + x2)
        return self.m_tail(x + x1)

    def noise_map(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        """Broadcast ``sigma`` (float, 0-d, [N], [N, 1, 1, 1] or [N, 1, H, W]) to a [N, 1, H, W] map."""
        n, _, h, w = x.shape
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        if s.dim() == 0:
            s = s.reshape(1, 1, 1, 1)
        elif s.dim() == 1:
            if s.shape[0] not in (1, n):
                raise ValueError(f"sigma of shape {tuple(s.shape)} does not match batch size {n}")
            s = s.reshape(-1, 1, 1, 1)
        elif s.dim() != 4 or s.shape[1] != 1:
            raise ValueError(f"sigma must be a float, [N], [N,1,1,1] or [N,1,H,W], got {tuple(s.shape)}")
        return s.expand(n, 1, h, w)

    def forward(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        """Denoise ``x`` [N, C, H, W] in [0, 1] at noise level ``sigma`` ([0, 1] units); any H, W."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected [N, {self.in_channels}, H, W], got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        z = torch.cat([x, self.noise_map(x, sigma)], dim=1)
        m = self.pad_multiple
        ph, pw = -h % m, -w % m
        if ph or pw:
            z = F.pad(z, (0, pw, 0, ph), mode="replicate")
        return self.forward_unet(z)[..., :h, :w]


def drunet_color() -> DRUNet:
    """DRUNet for RGB (``drunet_color.pth``): in 3 (+1 noise map), out 3, nc (64, 128, 256, 512), nb 4."""
    return DRUNet(in_channels=3, out_channels=3)


def drunet_gray() -> DRUNet:
    """DRUNet for grayscale (``drunet_gray.pth``): in 1 (+1 noise map), out 1."""
    return DRUNet(in_channels=1, out_channels=1)
