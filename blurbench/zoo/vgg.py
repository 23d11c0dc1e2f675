"""VGG19 up to conv3_3: the feature network of DeblurGAN's perceptual content loss.

Paper: K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015
(arXiv:1409.1556). DeblurGAN v1 (Kupyn et al. 2018) takes the MSE of ``features[:15]`` of torchvision's ImageNet
VGG19 (conv1_1 … conv3_3, before the ReLU of conv3_3); DeblurGAN-v2 the same layers.
Weights: torchvision's ``vgg19-dcbb9e9d.pth`` (``features.N.*`` and ``classifier.*``; only ``features.0..14`` are
read, :func:`blurbench.zoo.converters.convert_vgg19_features`). Any state dict with ``features.N.*`` keys in the
torchvision layout (e.g. timm's ``vgg19``) fits.

Input: ImageNet-normalised RGB NCHW (``(x - mean) / std`` of [0, 1] images); the loss does the normalisation.
"""

from __future__ import annotations

from torch import nn

__all__ = ["VGG19_CONV3_3_LAYERS", "vgg19_conv3_3"]

#: modules of ``features[:15]``: 7 convolutions, 6 ReLUs, 2 max-pools (torchvision/timm indices 0…14)
VGG19_CONV3_3_LAYERS = 15


def vgg19_conv3_3() -> nn.Sequential:
    """VGG19 ``features[:15]`` (conv1_1 … conv3_3, no final ReLU), torchvision/timm indices 0…14."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256]
    layers: list[nn.Module] = []
    in_ch = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_ch, v, 3, padding=1), nn.ReLU(inplace=True)]
            in_ch = v
    return nn.Sequential(*layers[:-1])  # drop the ReLU after conv3_3: index 14 is the last conv
