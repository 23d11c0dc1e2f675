"""DeblurGAN (v1): ResNet generator and PatchGAN critic (Kupyn et al. 2018).

Paper: O. Kupyn, V. Budzan, M. Mykhailych, D. Mishkin, J. Matas, "DeblurGAN: Blind Motion Deblurring Using
Conditional Adversarial Networks", CVPR 2018 (arXiv:1711.07064).
Official code: https://github.com/KupynOrest/DeblurGAN, ``models/networks.py`` as of commit a6f4ad0
(2018-06-04, "fixed error with wrong padding"): ``ResnetGenerator`` ('resnet_9blocks', ngf 64, norm
'instance' = ``InstanceNorm2d(affine=False)``, dropout on, ``--learn_residual``) and ``NLayerDiscriminator``
('basic', ndf 64, 3 layers, the same instance norm, no sigmoid for WGAN-GP). The 2019 HEAD rewrote
``ResnetBlock`` and is not the released architecture.

Key layout (``self.model`` is one ``nn.Sequential``; every conv has a bias because the norm is instance norm):
``model.1`` conv7 3→64, ``model.4`` / ``model.7`` stride-2 conv3 →128 →256, ``model.10..18`` ResnetBlocks with
``conv_block.1`` / ``conv_block.6`` (index 4 is the dropout), ``model.19`` / ``model.22`` ConvTranspose
(k3, s2, p1, op1) →128 →64, ``model.26`` conv7 64→3, then tanh. State dicts saved by PyTorch <= 0.3 carry
InstanceNorm ``running_mean`` / ``running_var`` keys; drop them with
:func:`blurbench.zoo.converters.drop_instancenorm_running_stats`. (The official weight link is dead.)

Input range: [-1, 1] (the official loader normalises with mean 0.5, std 0.5). With ``learn_residual`` the
output is ``clamp(x + tanh(net(x)), -1, 1)``.
Size: two stride-2 convs and two ``output_padding=1`` transposed convs return 4·ceil(H/4)-ish sizes, so H, W
must be multiples of 4; :meth:`DeblurGANGenerator.forward` reflect-pads bottom/right to a multiple of
``pad_multiple`` (4) and crops back (inputs need H, W > 3 for the reflection).
Official inference quirk: ``test.py`` never calls ``eval()``, so the 0.5 dropout of every ResnetBlock is
active at test time (outputs are random). ``dropout_at_eval=True`` reproduces that; the default (False) gives
the deterministic eval-mode network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "AlwaysOnDropout",
    "DeblurGANGenerator",
    "PatchGANCritic",
    "ResnetBlock",
    "crop_to",
    "deblurgan_critic",
    "deblurgan_v1",
    "pad_to_multiple",
]


def pad_to_multiple(x: Tensor, multiple: int, mode: str = "reflect") -> Tensor:
    """Pad the bottom/right of ``x`` [N, C, H, W] so that H and W are multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x


def crop_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Crop ``x`` [..., H', W'] to its top-left ``size`` = (H, W)."""
    return x[..., : size[0], : size[1]]


def _instance_norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False)  # official 'instance' norm, no parameters or buffers


class AlwaysOnDropout(nn.Dropout):
    """``nn.Dropout`` that can stay active in eval mode (``always_on=True``: the official inference quirk)."""

    def __init__(self, p: float = 0.5, always_on: bool = False) -> None:
        super().__init__(p)
        self.always_on = always_on

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training or self.always_on, self.inplace)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, always_on={self.always_on}"


class ResnetBlock(nn.Module):
    """x + [pad, conv3, IN, ReLU, (Dropout 0.5), pad, conv3, IN](x); submodule ``conv_block``."""

    def __init__(self, dim: int, use_dropout: bool = True, dropout_at_eval: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=True),
            _instance_norm(dim),
            nn.ReLU(True),
        ]
        if use_dropout:  # without dropout the official indices shift (second conv at 5)
            layers.append(AlwaysOnDropout(0.5, always_on=dropout_at_eval))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), _instance_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class DeblurGANGenerator(nn.Module):
    """DeblurGAN v1 ResNet generator (official ``ResnetGenerator``, resnet_9blocks, instance norm).

    Args:
        in_channels / out_channels: image channels (3).
        ngf: width of the first conv (64).
        n_blocks: number of ResnetBlocks (9).
        use_dropout: dropout 0.5 inside each ResnetBlock (on in the released model).
        learn_residual: output ``clamp(x + tanh(.), -1, 1)`` (the released model was trained with it).
        dropout_at_eval: keep dropout active in eval mode, as the official ``test.py`` effectively did.
        pad_multiple: :meth:`forward` reflect-pads to this multiple and crops back (4 = 2 stride-2 levels).

    Input ``x`` [N, 3, H, W] in [-1, 1]; output of the same shape in [-1, 1].
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        use_dropout: bool = True,
        learn_residual: bool = True,
        dropout_at_eval: bool = False,
        pad_multiple: int = 4,
    ) -> None:
        super().__init__()
        if learn_residual and in_channels != out_channels:
            raise ValueError("learn_residual needs in_channels == out_channels")
        if pad_multiple % 4:
            raise ValueError(f"pad_multiple must be a multiple of 4, got {pad_multiple}")
        self.learn_residual = learn_residual
        self.pad_multiple = pad_multiple
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=True),
            _instance_norm(ngf),
            nn.ReLU(True),
        ]
        for mult in (1, 2):  # two stride-2 downsamplings: 64 -> 128 -> 256
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                _instance_norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, use_dropout, dropout_at_eval) for _ in range(n_blocks)]
        for mult in (4, 2):  # two transposed convs: 256 -> 128 -> 64
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=True),
                _instance_norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward_net(self, x: Tensor) -> Tensor:
        """The official forward on H, W multiples of 4 (no padding)."""
        out = self.model(x)
        if self.learn_residual:
            out = torch.clamp(x + out, min=-1.0, max=1.0)
        return out

    def forward(self, x: Tensor) -> Tensor:
        """Deblur ``x`` [N, C, H, W] in [-1, 1]; any H, W > 3 (reflect pad to ``pad_multiple``, crop back)."""
        h, w = x.shape[-2:]
        return crop_to(self.forward_net(pad_to_multiple(x, self.pad_multiple)), (h, w))


class PatchGANCritic(nn.Module):
    """PatchGAN critic (official ``NLayerDiscriminator``): 4×4 convs, LeakyReLU 0.2, one score per patch.

    With the defaults (ndf 64, 3 layers, instance norm as the official WGAN-GP setup uses, no sigmoid) the
    keys are ``model.0``, ``model.2``, ``model.5``, ``model.8``, ``model.11`` (all with bias). The receptive
    field is 70×70; input [N, 3, H, W] in [-1, 1] (unconditional: only the sharp or restored image).

    Args:
        in_channels: image channels.
        ndf: width of the first conv.
        n_layers: number of stride-2 convs (3).
        norm: ``"instance"`` (InstanceNorm2d, affine=False; official default) or ``"batch"`` (BatchNorm2d,
            convs after the first without bias, as in the official code).
        use_sigmoid: append a sigmoid (only the official vanilla-GAN option).
    """

    def __init__(
        self,
        in_channels: int = 3,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "instance",
        use_sigmoid: bool = False,
    ) -> None:
        super().__init__()
        if norm == "instance":
            norm_layer, use_bias = _instance_norm, True
        elif norm == "batch":
            norm_layer, use_bias = nn.BatchNorm2d, False
        else:
            raise ValueError(f"norm must be 'instance' or 'batch', got {norm!r}")
        kw, padw = 4, 2  # padw = ceil((kw - 1) / 2) as in the official code
        seq: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, kw, stride=2, padding=padw),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            seq += [
                nn.Conv2d(ndf * prev, ndf * mult, kw, stride=2, padding=padw, bias=use_bias),
                norm_layer(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        seq += [
            nn.Conv2d(ndf * prev, ndf * mult, kw, stride=1, padding=padw, bias=use_bias),
            norm_layer(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, kw, stride=1, padding=padw),
        ]
        if use_sigmoid:
            seq.append(nn.Sigmoid())
        self.model = nn.Sequential(*seq)

    def forward(self, x: Tensor) -> Tensor:
        """[N, C, H, W] → patch scores [N, 1, H', W'] (35×35 for 256×256 inputs)."""
        return self.model(x)


def deblurgan_v1(dropout_at_eval: bool = False) -> DeblurGANGenerator:
    """The released DeblurGAN generator: resnet_9blocks, ngf 64, instance norm, dropout, learn_residual."""
    return DeblurGANGenerator(dropout_at_eval=dropout_at_eval)


def deblurgan_critic() -> PatchGANCritic:
    """The DeblurGAN WGAN-GP critic: PatchGAN, ndf 64, 3 layers, instance norm."""
    return PatchGANCritic()
