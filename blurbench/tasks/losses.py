"""GAN and content losses of DeblurGAN (v1: WGAN-GP + perceptual) and DeblurGAN-v2 (RaGAN-LS).

Conventions: every image tensor here is NCHW float32 in the generator's range [-1, 1] (the DeblurGAN
convention); :class:`ContentLoss` maps to [0, 1] and ImageNet-normalises before VGG19 itself. Critic scores
are unbounded patch maps [N, 1, h, w] (PatchGAN, no sigmoid); the losses average them over patches and batch.

- WGAN-GP (Gulrajani et al. 2017, as in DeblurGAN v1): critic ``E[D(fake)] - E[D(real)] + λ·GP`` with
  ``GP = E[(||∇_x̂ D(x̂)||₂ - 1)²]`` at random interpolates ``x̂ = α·real + (1 - α)·fake`` (one α per
  sample; the gradient norm is over all of a sample's pixels and channels of ``sum`` of its patch scores,
  the official ``DiscLossWGANGP``); generator ``-E[D(fake)]``.
- RaGAN-LS (DeblurGAN-v2's ``ragan-ls``, relativistic average least squares): critic
  ``½·(E[(D(r) - E D(f) - 1)²] + E[(D(f) - E D(r) + 1)²])``, generator the same with the targets swapped.
- Content: ``"perceptual"`` = MSE between VGG19 ``features[:15]`` (up to conv3_3, before its ReLU)
  of the restored and sharp images (DeblurGAN v1); ``"l1"`` / ``"mse"`` = pixel losses. The VGG19 weights come
  through the zoo like every other weight file: zoo entry ``vgg19-conv3-3`` (torchvision's ``vgg19-dcbb9e9d.pth``,
  sha256-pinned, from the zoo cache or downloaded once), or a local file given as ``vgg_weights`` (torchvision's
  file or any state dict with ``features.N.*`` keys); a missing file is a :class:`~blurbench.errors.ConfigError`,
  never a silent switch to another loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from blurbench.errors import ConfigError
from blurbench.zoo import load

__all__ = [
    "CONTENT_KINDS",
    "GAN_KINDS",
    "VGG19_ZOO_NAME",
    "ContentLoss",
    "GANLoss",
    "gradient_penalty",
]

GAN_KINDS = ("wgan-gp", "ragan-ls")
CONTENT_KINDS = ("perceptual", "l1", "mse")
#: the zoo entry the perceptual loss loads when no local file is given
VGG19_ZOO_NAME = "vgg19-conv3-3"
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, alpha: Tensor | None = None) -> Tensor:
    """WGAN-GP penalty ``E[(||∇ D(x̂)||₂ - 1)²]``, ``x̂ = α·real + (1 - α)·fake`` (α ~ U[0,1] per sample).

    ``real``/``fake`` [N, C, H, W]; ``alpha`` [N] (drawn when None). The gradient is of the sum of each
    sample's patch scores; ``create_graph=True`` so the penalty itself can be back-propagated.
    """
    n = real.shape[0]
    if alpha is None:
        alpha = torch.rand(n, device=real.device, dtype=real.dtype)
    a = alpha.view(n, 1, 1, 1)
    x = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(True)
    scores = critic(x)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


class GANLoss(nn.Module):
    """Critic and generator losses for ``kind`` in :data:`GAN_KINDS` (module docstring for the formulas).

    Args:
        kind: ``"wgan-gp"`` (DeblurGAN v1) or ``"ragan-ls"`` (DeblurGAN-v2).
        gp_weight: λ of the gradient penalty (WGAN-GP only; 10 in the paper).
    """

    def __init__(self, kind: Literal["wgan-gp", "ragan-ls"] = "wgan-gp", gp_weight: float = 10.0) -> None:
        super().__init__()
        if kind not in GAN_KINDS:
            raise ConfigError(f"unknown gan_loss '{kind}'", f"choose one of: {', '.join(GAN_KINDS)}")
        self.kind = kind
        self.gp_weight = gp_weight

    def critic_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(loss, logs) for one critic update; ``fake`` is detached here."""
        fake = fake.detach()
        d_real, d_fake = critic(real), critic(fake)
        if self.kind == "wgan-gp":
            wdist = d_real.mean() - d_fake.mean()
            gp = gradient_penalty(critic, real, fake)
            return -wdist + self.gp_weight * gp, {"wasserstein": wdist.detach(), "gp": gp.detach()}
        loss = 0.5 * (((d_real - d_fake.mean() - 1) ** 2).mean() + ((d_fake - d_real.mean() + 1) ** 2).mean())
        return loss, {"d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}

    def generator_loss(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        """Adversarial loss of the generator (gradients flow into ``fake``; the critic is not updated here)."""
        d_fake = critic(fake)
        if self.kind == "wgan-gp":
            return -d_fake.mean()
        d_real = critic(real.detach()).detach()
        return 0.5 * (((d_real - d_fake.mean() + 1) ** 2).mean() + ((d_fake - d_real.mean() - 1) ** 2).mean())


class ContentLoss(nn.Module):
    """Content loss on generator outputs in [-1, 1]: perceptual (VGG19 conv3_3 MSE) or pixel L1/MSE.

    Args:
        kind: ``"perceptual"``, ``"l1"`` or ``"mse"``, chosen explicitly.
        vgg_weights: local VGG19 weights for ``"perceptual"`` (default: zoo entry :data:`VGG19_ZOO_NAME`).
        pixel_weight: extra pixel MSE term added to the perceptual one (DeblurGAN-v2 uses 0.5 with the
            feature MSE scaled by 0.006); 0 for v1.
        feature_weight: scale of the feature MSE (1 for v1, 0.006 for v2).
    """

    def __init__(self, kind: Literal["perceptual", "l1", "mse"], vgg_weights: str | None = None,
                 pixel_weight: float = 0.0, feature_weight: float = 1.0) -> None:
        super().__init__()
        if kind not in CONTENT_KINDS:
            raise ConfigError(f"unknown content loss '{kind}'", f"choose one of: {', '.join(CONTENT_KINDS)}")
        self.kind = kind
        self.pixel_weight = pixel_weight
        self.feature_weight = feature_weight
        self.vgg_weights = vgg_weights
        # Held in a list, not as a submodule: a fixed external file stays out of checkpoints and of DDP.
        self._vgg: list[nn.Sequential] = []
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def load(self) -> None:
        """Load VGG19 through the zoo (perceptual only; idempotent). Missing local file: one-line ConfigError.

        Called lazily (first forward, or the training task's ``setup``) so that building the module from a
        config never touches the disk.
        """
        if self.kind != "perceptual" or self._vgg:
            return
        if not self.vgg_weights:
            net = load(VGG19_ZOO_NAME)
        else:
            path = Path(self.vgg_weights).expanduser()
            if not path.is_file():
                raise ConfigError(
                    f"perceptual content loss needs VGG19 weights: {path} not found",
                    f"pass vgg_weights=PATH of torchvision's vgg19-dcbb9e9d.pth, leave it unset for the zoo's "
                    f"{VGG19_ZOO_NAME}, or set content: l1",
                )
            net = load(str(path), arch="vgg19_conv3_3")
        self._vgg.append(net.eval().requires_grad_(False))

    def _features(self, x: Tensor) -> Tensor:
        self.load()
        vgg = self._vgg[0]
        if vgg[0].weight.device != x.device:
            vgg.to(x.device)
        return vgg(((x + 1) / 2 - self.mean) / self.std)

    def forward(self, restored: Tensor, sharp: Tensor) -> Tensor:
        if self.kind == "l1":
            return F.l1_loss(restored, sharp)
        if self.kind == "mse":
            return F.mse_loss(restored, sharp)
        loss = self.feature_weight * F.mse_loss(self._features(restored), self._features(sharp).detach())
        if self.pixel_weight:
            loss = loss + self.pixel_weight * F.mse_loss(restored, sharp)
        return loss
