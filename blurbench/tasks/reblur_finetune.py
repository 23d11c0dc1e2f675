"""Reblur-consistency fine-tuning of a pretrained deblurring GAN (Carbajal et al. 2021, Table 3).

:class:`ReblurFinetune` is :class:`~blurbench.tasks.deblurgan.DeblurGANTraining` started from pretrained
weights, with one more generator loss::

    λ_reblur · || reblur(G(v)^γ; F(v)) − v^γ ||²          (mean over the compared pixels and channels)

where ``v`` is the blurry input in [0, 1], ``G(v)`` the restored image in [0, 1] at the blurry size, and
``F(v) = (kernels [N, B, K, K], mixing [N, B, H, W])`` the blur field predicted by a FROZEN blur-field network
(:class:`~blurbench.zoo.carbajal.BlurFieldNet`; ``F`` applies its own input preprocessing ``x**gamma − 0.5``
to ``v``). The GAN and content losses stay as in the base task.

Choices (and why):

- Padding — ``reblur_padding="valid"`` (default): the re-blurred image is only compared where the model is
  exact. A 'valid' correlation of the H×W restored image gives (H − K + 1)×(W − K + 1) outputs; output pixel
  y corresponds to blurry pixel y + (K − 1) // 2, so ``v`` and the mixing maps are centre-cropped by
  (K − 1) // 2 before / K // 2 after (16 px per side for K = 33). Nothing outside the restored crop is
  invented, at the price of not constraining a border of K // 2 px (which the content loss still covers).
  ``"reflect"`` compares the full frame with reflect padding (the inference convention of Carbajal et al.);
  near the border it asks G for content that makes the reflection consistent, which is biased.
- Gamma — the re-blur model is linear in the space the data was blurred in. ``reblur_gamma`` (γ) is that
  space's exponent: both G(v) and v are raised to γ before re-blurring/comparing (γ = 1: display space,
  the built-in and synthetic data with ``gamma=1``; γ = 2.2: frames averaged in linear light). It is
  independent of F's own ``gamma`` (its input normalisation, fixed by how F was trained), and the
  comparison is in that linear space.
- F is frozen: eval mode, ``requires_grad_(False)``, run under ``torch.no_grad``, and held OUTSIDE the
  module's registered submodules, so it is neither in checkpoints nor among the DDP-wrapped parameters (it is
  moved to the batch's device on first use). Only G (and the critic, in its own step) is trained.
- ``field_cache``: a directory where F(v) is stored per sample (safetensors, mixing in float16) keyed by the
  sample id and a hash of the 8-bit input, so a field is computed once per distinct input. It hits only for
  deterministic training inputs (fixed crops); with random crops or freshly synthesised blur every input
  is new and the cache only costs disk.

The ``resume`` control of Table 3 is the same task with ``reblur_weight: 0`` (F is then not loaded): same
initialisation, data, schedule and losses except the reblur term. ``blurfield: ground-truth`` uses the batch's
own field (``kernels``, ``mixing``: the synthetic training data carries it) as F — an upper bound that shows
what the loss can do with a perfect F.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save
from torch import Tensor, nn

from blurbench.errors import ConfigError
from blurbench.io import atomic_write_bytes
from blurbench.ops.reblur import BlurField, pad_sizes
from blurbench.tasks.deblurgan import DeblurGANTraining, from_gan_range
from blurbench.zoo import load

__all__ = ["FieldCache", "ReblurFinetune", "consistency_operator", "load_blurfield", "reblur_consistency"]

REBLUR_PADDINGS = ("valid", "reflect")
#: ``blurfield`` value that takes F(v) from the batch's ground-truth field instead of a network
GROUND_TRUTH = "ground-truth"


def load_blurfield(source: str, gamma: float | None = None) -> nn.Module:
    """A frozen blur-field network from ``source``: any model source of :func:`blurbench.zoo.load` (zoo name,
    ``hf-hub:`` repo, converted directory, training ``.ckpt``, official file with ``#sha256=``), or ``"random"``
    (an untrained ``blurfield_small``, seed 0: for tests and plumbing only). ``gamma`` overrides the network's
    preprocessing exponent. A bare weights file is read as the released Carbajal et al. architecture.
    """
    if source == "random":
        with torch.random.fork_rng():
            torch.manual_seed(0)
            net = load("blurfield-small", pretrained=False)
    else:
        net = load(source, arch="blurfield_carbajal2021")
    if gamma is not None:
        net.gamma = float(gamma)
    return net.eval().requires_grad_(False)


def consistency_operator(kernels: Tensor, mixing: Tensor, padding: str = "valid") -> BlurField:
    """The re-blur ``A`` of the loss for ``F(v) = (kernels [N, B, K, K], mixing [N, B, H, W])`` on the blurry grid.

    ``"valid"``: the field's interior (:meth:`~blurbench.ops.reblur.BlurField.interior`), mapping the H×W restored
    image to the central (H − K + 1)×(W − K + 1) region; ``"reflect"``: the full frame, reflect padding.
    """
    if padding not in REBLUR_PADDINGS:
        raise ConfigError(f"unknown reblur_padding '{padding}'", f"choose one of: {', '.join(REBLUR_PADDINGS)}")
    field = BlurField(kernels, mixing, "reflect")
    return field.interior() if padding == "valid" else field


def reblur_consistency(restored: Tensor, blurry: Tensor, op: BlurField, gamma: float = 1.0) -> Tensor:
    """Mean squared reblur error ``||A(restored^γ) − blurry^γ||²`` over the compared region (module docstring).

    ``restored``, ``blurry`` [N, C, H, W] in [0, 1]; ``op`` from :func:`consistency_operator`. A 'valid' ``op``
    compares its (H − K + 1)×(W − K + 1) output with the centre of ``blurry``.
    """
    if gamma != 1.0:
        restored = restored.clamp_min(0).pow(gamma)
        blurry = blurry.clamp_min(0).pow(gamma)
    if op.padding == "valid":
        before, after = pad_sizes(op.kernel_size)
        h, w = blurry.shape[-2:]
        blurry = blurry[..., before:h - after, before:w - after]
    return F.mse_loss(op.A(restored), blurry)


class FieldCache:
    """F(v) on disk: ``<directory>/<key>.safetensors`` with ``kernels`` (float32) and ``mixing`` (float16).

    ``key(sample_id, v)`` = sha256 of the id and of ``v`` rounded to 8 bits (so a changed crop is a new key).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(sample_id: str, image: Tensor) -> str:
        q = (image.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu().contiguous()
        h = hashlib.sha256(f"{sample_id}\0{tuple(q.shape)}\0".encode())
        h.update(q.numpy().tobytes())
        return h.hexdigest()[:32]

    def get(self, key: str) -> tuple[Tensor, Tensor] | None:
        path = self.directory / f"{key}.safetensors"
        if not path.is_file():
            return None

        try:
            d = load_file(str(path))
        except Exception:  # a torn/corrupt entry is recomputed, not trusted
            return None
        return d["kernels"].float(), d["mixing"].float()

    def put(self, key: str, kernels: Tensor, mixing: Tensor) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = save({"kernels": kernels.detach().float().cpu().contiguous(),
                     "mixing": mixing.detach().half().cpu().contiguous()})
        atomic_write_bytes(self.directory / f"{key}.safetensors", data)


class ReblurFinetune(DeblurGANTraining):
    """DeblurGAN training + λ_reblur · reblur consistency through a frozen blur-field net (module docstring).

    Args (beyond :class:`~blurbench.tasks.deblurgan.DeblurGANTraining`, whose ``init_from`` gives the
    pretrained generator and is required here):
        blurfield: F, see :func:`load_blurfield` (any model source of :func:`blurbench.zoo.load`, or
            ``"random"``), or
            ``"ground-truth"``: the batch's ``kernels`` / ``mixing`` (an upper bound; synthetic data only).
        blurfield_gamma: override F's input-preprocessing exponent (None: as F was trained).
        reblur_weight: λ_reblur; 0 gives the ``resume`` control (F is not loaded).
        reblur_gamma: exponent of the space the blur is linear in (1 = display space).
        reblur_padding: ``"valid"`` (central crop, default) or ``"reflect"``.
        field_cache: directory caching F(v) per sample (None: recompute every step).
    """

    def __init__(self, *args: Any, blurfield: str = "blurfield-small", blurfield_gamma: float | None = None,
                 reblur_weight: float = 1.0, reblur_gamma: float = 1.0, reblur_padding: str = "valid",
                 field_cache: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if reblur_padding not in REBLUR_PADDINGS:
            raise ConfigError(f"unknown reblur_padding '{reblur_padding}'",
                              f"choose one of: {', '.join(REBLUR_PADDINGS)}")
        if reblur_weight < 0 or reblur_gamma <= 0:
            raise ConfigError(f"need reblur_weight >= 0 and reblur_gamma > 0, got {reblur_weight}, {reblur_gamma}",
                              "fix the config")
        self.reblur_weight = reblur_weight
        self.reblur_gamma = reblur_gamma
        self.reblur_padding = reblur_padding
        self.field_cache = FieldCache(field_cache) if field_cache else None
        # Not a submodule (a plain dict attribute): out of state_dict, optimisers and DDP's parameters.
        self._frozen: dict[str, nn.Module] = {}
        self._blurfield_source = (blurfield, blurfield_gamma)

    def prepare_training(self) -> None:
        """The base task's files, then F (only when ``reblur_weight > 0``); needs ``init_from``."""
        if not self.hparams.get("init_from"):
            raise ConfigError("ReblurFinetune needs pretrained weights", "set model.init_args.init_from to a "
                              "checkpoint, a converted directory, a zoo name or an official file")
        super().prepare_training()
        if self.reblur_weight > 0 and "blurfield" not in self._frozen and self._blurfield_source[0] != GROUND_TRUTH:
            self._frozen["blurfield"] = load_blurfield(*self._blurfield_source)

    @property
    def blurfield(self) -> nn.Module | None:
        return self._frozen.get("blurfield")

    def train(self, mode: bool = True) -> ReblurFinetune:
        super().train(mode)
        if self.blurfield is not None:
            self.blurfield.eval()  # frozen: never in training mode
        return self

    @torch.no_grad()
    def predict_field(self, blurry: Tensor, ids: list[str] | None = None) -> tuple[Tensor, Tensor]:
        """F(v) for ``blurry`` [N, 3, H, W] in [0, 1] (through the cache when configured and ``ids`` given)."""
        net = self.blurfield
        if net is None:
            raise ConfigError("no blur-field network loaded (reblur_weight is 0)", "set reblur_weight > 0")
        if next(net.parameters()).device != blurry.device:
            net.to(blurry.device)
        if self.field_cache is None or ids is None:
            return net(blurry)
        keys = [self.field_cache.key(i, v) for i, v in zip(ids, blurry)]
        found = [self.field_cache.get(k) for k in keys]
        todo = [j for j, f in enumerate(found) if f is None]
        self.field_cache.hits += len(keys) - len(todo)
        self.field_cache.misses += len(todo)
        if todo:
            kernels, mixing = net(blurry[todo])
            for j, k, m in zip(todo, kernels, mixing):
                self.field_cache.put(keys[j], k, m)
                found[j] = (k, m)
        kernels = torch.stack([f[0].to(blurry.device, blurry.dtype) for f in found])
        mixing = torch.stack([f[1].to(blurry.device, blurry.dtype) for f in found])
        return kernels, mixing

    def extra_generator_losses(self, batch: dict[str, Any], blurry: Tensor, fake: Tensor) -> dict[str, Tensor]:
        if self.reblur_weight == 0:
            return {}
        v = batch["blurry"]
        if self._blurfield_source[0] == GROUND_TRUTH:
            if "kernels" not in batch or "mixing" not in batch:
                raise ConfigError("blurfield: ground-truth needs batches with 'kernels' and 'mixing'",
                                  "train on synthetic data (SyntheticBlurDataModule) or use a blur-field network")
            kernels, mixing = batch["kernels"], batch["mixing"]
        else:
            kernels, mixing = self.predict_field(v, list(batch["id"]) if "id" in batch else None)
        op = consistency_operator(kernels, mixing, self.reblur_padding)
        loss = reblur_consistency(from_gan_range(fake), v, op, self.reblur_gamma)
        return {"reblur": self.reblur_weight * loss}
