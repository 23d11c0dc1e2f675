"""DeblurGAN-v2: FPN generators over MobileNetV2 and Inception-ResNet-v2 backbones (Kupyn et al. 2019).

Paper: O. Kupyn, T. Martyniuk, J. Wu, Z. Wang, "DeblurGAN-v2: Deblurring (Orders-of-Magnitude) Faster and
Better", ICCV 2019 (arXiv:1908.03826).
Official code: https://github.com/VITA-Group/DeblurGANv2 at HEAD (c16bd9f): ``models/fpn_mobilenet.py``
(``FPNMobileNet``: FPN 128 / head 64 over its own ``models/mobilenet_v2.py``), ``models/fpn_inception.py``
(``FPNInception``: FPN 256 / head 128 over Cadene's ``pretrainedmodels.inceptionresnetv2``), norm layer from
``models/networks.py``: ``InstanceNorm2d(affine=False, track_running_stats=True)``.
Weights: ``fpn_mobilenet.h5`` / ``fpn_inception.h5`` = ``{'model': state_dict}`` of an ``nn.DataParallel``
(``module.`` prefix) in the official key layout; convert them with
:func:`blurbench.zoo.converters.convert_deblurganv2`.

Backbones are built with timm (``pretrained=False``, nothing is downloaded): ``mobilenetv2_100`` and
``inception_resnet_v2`` (whose module names equal Cadene's). timm's ``features_only`` taps do NOT match the
official ones (the official MobileNet FPN reads stage 4 at 64 channels and the second of the three 160-channel
blocks; the Inception FPN reads the outputs of ``conv2d_1a``, ``maxpool_3a``, ``maxpool_5a``, ``mixed_6a`` and
``mixed_7a``), so the encoders below keep the timm submodules (with their timm names, under ``fpn.backbone``)
up to the last official tap and run them stage by stage. Unused trailing layers are not built.

Output: ``clamp(tanh(final) + x, -1, 1)``; input and output in [-1, 1] (official normalisation mean 0.5,
std 0.5). All norm layers of the FPN/heads use the statistics of the input (the official inference runs in
train mode, ``predict.py``: "GAN inference should be in train mode"); their running statistics in the official
files are unused and dropped by the converter.

Size: the network needs H, W multiples of 32 (and >= 128 for Inception: ``mixed_7a`` must give >= 2 px for the
reflection pads). :meth:`FPNGenerator.forward` pads and crops back:

- ``pad_mode="official"``: zeros at the bottom/right up to ``(h // 32 + 1) * 32`` (always at least one row,
  as ``predict.py``); this matters because the norm layers see the padding;
- ``pad_mode="replicate"``: the minimal replicate padding to a multiple of 32.

Both modes enlarge the padding to the minimum size (32 for MobileNet, 64 with ``backbone_bn_input_stats``, 128
for Inception) if needed.
``backbone_bn_input_stats=True`` makes the backbone BatchNorm layers normalise with each image's own
statistics in eval mode as well, which is what the official ``model.train(True)`` inference at batch size 1
computes.
"""

from __future__ import annotations

from typing import Literal

import timm
import torch
import torch.nn.functional as F
from timm.layers import BatchNormAct2d
from torch import Tensor, nn

from blurbench.zoo.converters import IRV2_STAGES

__all__ = [
    "FPN",
    "FPNGenerator",
    "FPNHead",
    "InceptionResNetV2Encoder",
    "MobileNetV2Encoder",
    "deblurganv2_fpn_inception",
    "deblurganv2_fpn_mobilenet",
    "set_backbone_bn_input_stats",
]

PadMode = Literal["official", "replicate"]


# -------------------------------------------------------------------------------------------- norms
def _instance_norm(channels: int) -> nn.Module:
    """Instance statistics in train and eval mode (= the official train-mode inference), no parameters."""
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class _BatchNormActInputStats(BatchNormAct2d):
    """timm ``BatchNormAct2d`` that, in eval mode, normalises each image with its own statistics."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return super().forward(x)
        x = F.instance_norm(x, None, None, self.weight, self.bias, use_input_stats=True, eps=self.eps)
        return self.act(self.drop(x))


def set_backbone_bn_input_stats(module: nn.Module, enabled: bool) -> None:
    """Switch every timm ``BatchNormAct2d`` in ``module`` to per-image statistics in eval mode (or back).

    Only the class changes (same parameters, buffers and state-dict keys); running statistics are never
    updated in eval mode either way.
    """
    src, dst = (BatchNormAct2d, _BatchNormActInputStats) if enabled else (_BatchNormActInputStats, BatchNormAct2d)
    for m in module.modules():
        if type(m) is src:
            m.__class__ = dst


# ------------------------------------------------------------------------------------------ encoders
class MobileNetV2Encoder(nn.Module):
    """timm ``mobilenetv2_100`` up to the official FPN taps (official ``features[0:16]``).

    Returns 5 maps: 16 ch /2 (``blocks.0``), 24 /4, 32 /8, 64 /16 (``blocks.3``), 160 /32 (``blocks.4`` then
    the first two blocks of ``blocks.5``; the official ``enc4 = features[11:16]`` stops before the third).
    """

    channels = (16, 24, 32, 64, 160)

    def __init__(self) -> None:
        super().__init__()
        net = timm.create_model("mobilenetv2_100", pretrained=False, num_classes=0)
        self.conv_stem = net.conv_stem
        self.bn1 = net.bn1
        self.blocks = nn.Sequential(*net.blocks[:5], net.blocks[5][:2])

    def forward(self, x: Tensor) -> list[Tensor]:
        enc0 = self.blocks[0](self.bn1(self.conv_stem(x)))
        enc1 = self.blocks[1](enc0)
        enc2 = self.blocks[2](enc1)
        enc3 = self.blocks[3](enc2)
        enc4 = self.blocks[5](self.blocks[4](enc3))
        return [enc0, enc1, enc2, enc3, enc4]


class InceptionResNetV2Encoder(nn.Module):
    """timm ``inception_resnet_v2`` up to ``mixed_7a`` (official ``FPN.enc0..enc4`` of ``fpn_inception.py``).

    Returns 5 maps (all convolutions 'valid', so sizes are not exact powers of 2): 32 ch (``conv2d_1a``),
    64 (``maxpool_3a``), 192 (``maxpool_5a``), 1088 (``mixed_6a``), 2080 (``mixed_7a``).
    """

    channels = (32, 64, 192, 1088, 2080)
    stages = IRV2_STAGES  # one table: the converter maps the official file's keys by the same stages

    def __init__(self) -> None:
        super().__init__()
        net = timm.create_model("inception_resnet_v2", pretrained=False, num_classes=0)
        for stage in self.stages:
            for name in stage:
                self.add_module(name, getattr(net, name))

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for stage in self.stages:
            for name in stage:
                x = getattr(self, name)(x)
            feats.append(x)
        return feats


# ----------------------------------------------------------------------------------------- FPN parts
def _conv_norm_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), _instance_norm(out_ch), nn.ReLU(inplace=True))


def _up2(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class FPNHead(nn.Module):
    """Two bias-free 3×3 conv + ReLU (official ``FPNHead``: ``block0``, ``block1``)."""

    def __init__(self, num_in: int, num_mid: int, num_out: int) -> None:
        super().__init__()
        self.block0 = nn.Conv2d(num_in, num_mid, 3, padding=1, bias=False)
        self.block1 = nn.Conv2d(num_mid, num_out, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.block1(F.relu(self.block0(x))))


class FPN(nn.Module):
    """Backbone + lateral 1×1 convs + top-down path (official ``FPN``; the backbone under ``backbone``).

    ``inception_pads`` reproduces the reflection pads that align the odd Inception feature sizes.
    Returns ``(lateral0, map1, map2, map3, map4)`` at /2, /4, /8, /16, /32 of a multiple-of-32 input.
    """

    def __init__(self, backbone: nn.Module, num_filters: int, inception_pads: bool) -> None:
        super().__init__()
        self.backbone = backbone
        c0, c1, c2, c3, c4 = backbone.channels
        self.inception_pads = inception_pads
        self.td1 = _conv_norm_relu(num_filters, num_filters)
        self.td2 = _conv_norm_relu(num_filters, num_filters)
        self.td3 = _conv_norm_relu(num_filters, num_filters)
        self.lateral4 = nn.Conv2d(c4, num_filters, 1, bias=False)
        self.lateral3 = nn.Conv2d(c3, num_filters, 1, bias=False)
        self.lateral2 = nn.Conv2d(c2, num_filters, 1, bias=False)
        self.lateral1 = nn.Conv2d(c1, num_filters, 1, bias=False)
        self.lateral0 = nn.Conv2d(c0, num_filters // 2, 1, bias=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        enc0, enc1, enc2, enc3, enc4 = self.backbone(x)
        lat4, lat3, lat2 = self.lateral4(enc4), self.lateral3(enc3), self.lateral2(enc2)
        lat1, lat0 = self.lateral1(enc1), self.lateral0(enc0)
        if self.inception_pads:  # sizes m-2, 2m-2, 4m-3, 8m-2, 16m-1 for a 32m input
            lat4 = F.pad(lat4, (1, 1, 1, 1), mode="reflect")
            lat3 = F.pad(lat3, (1, 1, 1, 1), mode="reflect")
            lat2 = F.pad(lat2, (1, 2, 1, 2), mode="reflect")
            lat1 = F.pad(lat1, (1, 1, 1, 1), mode="reflect")
            lat0 = F.pad(lat0, (0, 1, 0, 1), mode="reflect")
        map4 = lat4
        map3 = self.td1(lat3 + _up2(map4))
        map2 = self.td2(lat2 + _up2(map3))
        map1 = self.td3(lat1 + _up2(map2))
        return lat0, map1, map2, map3, map4


class FPNGenerator(nn.Module):
    """DeblurGAN-v2 FPN generator (official ``FPNMobileNet`` / ``FPNInception``).

    Args:
        backbone: ``"mobilenetv2"`` (timm ``mobilenetv2_100``) or ``"inception_resnet_v2"``.
        num_filters_fpn: FPN width (official: 128 MobileNet, 256 Inception).
        num_filters: head width (official: 64 MobileNet, 128 Inception).
        pad_mode: ``"official"`` (zeros up to ``(h // 32 + 1) * 32``, as ``predict.py``) or ``"replicate"``.
        backbone_bn_input_stats: per-image BatchNorm statistics in eval mode (official inference behaviour).

    Input ``x`` [N, 3, H, W] in [-1, 1], any H, W (padded internally); output of the same shape in [-1, 1].
    """

    def __init__(
        self,
        backbone: Literal["mobilenetv2", "inception_resnet_v2"] = "mobilenetv2",
        num_filters_fpn: int = 128,
        num_filters: int = 64,
        pad_mode: PadMode = "official",
        backbone_bn_input_stats: bool = False,
    ) -> None:
        super().__init__()
        if backbone == "mobilenetv2":
            encoder: nn.Module = MobileNetV2Encoder()
            self.min_size = 64 if backbone_bn_input_stats else 32  # per-image BN needs > 1 px at /32
        elif backbone == "inception_resnet_v2":
            encoder = InceptionResNetV2Encoder()
            self.min_size = 128
        else:
            raise ValueError(f"unknown backbone {backbone!r}; expected 'mobilenetv2' or 'inception_resnet_v2'")
        if pad_mode not in ("official", "replicate"):
            raise ValueError(f"pad_mode must be 'official' or 'replicate', got {pad_mode!r}")
        if num_filters_fpn // 2 != num_filters:
            raise ValueError("the official wiring adds lateral0 (num_filters_fpn // 2 ch) to a num_filters map")
        self.backbone_name = backbone
        self.pad_mode = pad_mode
        self.fpn = FPN(encoder, num_filters_fpn, inception_pads=backbone == "inception_resnet_v2")
        self.head1 = FPNHead(num_filters_fpn, num_filters, num_filters)
        self.head2 = FPNHead(num_filters_fpn, num_filters, num_filters)
        self.head3 = FPNHead(num_filters_fpn, num_filters, num_filters)
        self.head4 = FPNHead(num_filters_fpn, num_filters, num_filters)
        self.smooth = _conv_norm_relu(4 * num_filters, num_filters)
        self.smooth2 = _conv_norm_relu(num_filters, num_filters // 2)
        self.final = nn.Conv2d(num_filters // 2, 3, 3, padding=1)
        set_backbone_bn_input_stats(self.fpn.backbone, backbone_bn_input_stats)

    def forward_net(self, x: Tensor) -> Tensor:
        """The official forward; H, W multiples of 32 and >= ``min_size``."""
        map0, map1, map2, map3, map4 = self.fpn(x)
        map4 = F.interpolate(self.head4(map4), scale_factor=8, mode="nearest")
        map3 = F.interpolate(self.head3(map3), scale_factor=4, mode="nearest")
        map2 = _up2(self.head2(map2))
        map1 = self.head1(map1)
        smoothed = _up2(self.smooth(torch.cat([map4, map3, map2, map1], dim=1)))
        smoothed = _up2(self.smooth2(smoothed + map0))
        return torch.clamp(torch.tanh(self.final(smoothed)) + x, min=-1.0, max=1.0)

    def padded_size(self, h: int, w: int) -> tuple[int, int]:
        """The (H, W) the input is padded to before :meth:`forward_net`."""

        def one(n: int) -> int:
            n_pad = (n // 32 + 1) * 32 if self.pad_mode == "official" else -(-n // 32) * 32
            return max(n_pad, self.min_size)

        return one(h), one(w)

    def forward(self, x: Tensor) -> Tensor:
        """Deblur ``x`` [N, 3, H, W] in [-1, 1]: pad (see ``pad_mode``), run, crop back."""
        h, w = x.shape[-2:]
        hp, wp = self.padded_size(h, w)
        pad = (0, wp - w, 0, hp - h)
        if self.pad_mode == "official":
            xp = F.pad(x, pad, mode="constant", value=0.0)
        else:
            xp = F.pad(x, pad, mode="replicate") if hp > h or wp > w else x
        return self.forward_net(xp)[..., :h, :w]


def deblurganv2_fpn_mobilenet(pad_mode: PadMode = "official", backbone_bn_input_stats: bool = False) -> FPNGenerator:
    """FPN-MobileNetV2 (FPN 128 / head 64), weights ``fpn_mobilenet.h5`` via the converter."""
    return FPNGenerator("mobilenetv2", 128, 64, pad_mode, backbone_bn_input_stats)


def deblurganv2_fpn_inception(pad_mode: PadMode = "official", backbone_bn_input_stats: bool = False) -> FPNGenerator:
    """FPN-InceptionResNetV2 (FPN 256 / head 128), weights ``fpn_inception.h5`` via the converter."""
    return FPNGenerator("inception_resnet_v2", 256, 128, pad_mode, backbone_bn_input_stats)
