"""Training DeblurGAN (v1: WGAN-GP, v2: RaGAN-LS) as a LightningModule with manual optimisation.

Range convention: datamodules give ``blurry`` / ``sharp`` in [0, 1]; the generator and critic work in
[-1, 1] (``x * 2 - 1`` on the way in, ``(y + 1) / 2`` on the way out, the official normalisation with mean
and std 0.5). Only :meth:`DeblurGANTraining.restore` returns [0, 1] images.

Size convention: with the synthetic 'valid' convention the sharp crop is K - 1 px larger than the blurry one
(``SyntheticBlurDataModule``); :func:`align_sharp` centre-crops it to the blurry grid (a 'valid' correlation's
output pixel y sees the sharp window centred on y + (K - 1) / 2). Same-size pairs (GoPro) pass unchanged.

One step (the official ``optimize_parameters``): restore the batch once; ``critic_steps`` critic updates on
that same batch (fake detached); one generator update on ``adv_weight · adv + content_weight · content``
(+ :meth:`extra_generator_losses`, the hook :class:`~blurbench.tasks.reblur_finetune.ReblurFinetune` uses).
The learning rate is constant for ``constant_epochs`` then decays linearly to ``min_lr`` over ``decay_epochs``
(stepped per epoch, both optimisers).

Presets (:data:`PRESETS`; every value can be overridden by its argument):

- ``v1`` (Kupyn et al. 2018): WGAN-GP λ 10, 5 critic steps, content = 100 · VGG19 conv3_3 MSE, Adam 1e-4,
  β = (0.5, 0.999), 150 constant + 150 linear-decay epochs.
- ``v2`` (Kupyn et al. 2019, per the public ``config/config.yaml``; unverified against the paper): RaGAN-LS,
  1 critic step, adversarial weight 0.001, content = 0.006 · VGG19 conv3_3 MSE + 0.5 · pixel MSE, Adam 1e-4,
  β = (0.9, 0.999), 50 constant + 150 linear-decay epochs to 1e-7. (v2's double-scale critic and its 3 warm-up
  epochs with a frozen encoder are not reproduced: one PatchGAN critic, everything trained.)

Multi-GPU: any DDP strategy (``--trainer.devices N``). With manual optimisation each backward reaches only the
critic or only the generator, which plain DDP rejects as unused parameters: ``setup`` turns on DDP's
unused-parameter detection (:func:`blurbench.tasks.distributed.detect_unused_parameters`).

Starting point and adversarial term: ``zero_init_residual=True`` zeroes the generator's last convolution, so a
residual generator (``learn_residual``) starts as the exact identity — it scores the blurry input's PSNR from
step 0 and every step is spent on deblurring, not on undoing a random start (PyTorch's default init makes an
untrained generator ~13 dB worse than its input). ``adv_weight: 0`` (or ``critic_steps: 0``) trains without the
critic: no critic step and no adversarial loss (the CPU recipes; the GoPro recipes keep the papers' GAN).

Validation logs ``val/psnr`` (restored), ``val/psnr_input`` (the blurry input: the identity baseline) and
``val/gain`` (their difference, per image then averaged); a model learns when ``val/gain`` > 0.

``content`` is never chosen silently: ``"perceptual"`` needs VGG19 (the zoo's ``vgg19-conv3-3``, or a local file as
``vgg_weights``) and fails with a one-line error when it cannot be had; ``"l1"`` / ``"mse"`` are pixel losses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from blurbench.errors import ConfigError, DataError
from blurbench.metrics.image import PSNR
from blurbench.tasks.distributed import detect_unused_parameters
from blurbench.tasks.losses import ContentLoss, GANLoss
from blurbench.zoo import load
from blurbench.zoo.deblurgan import PatchGANCritic
from blurbench.zoo.hub import load_state_dict_strict, read_checkpoint
from blurbench.zoo.registry import build_arch

__all__ = ["PRESETS", "DeblurGANTraining", "align_sharp", "from_gan_range", "load_generator_state", "to_gan_range"]

PRESETS: dict[str, dict[str, Any]] = {
    "v1": {"gan_loss": "wgan-gp", "critic_steps": 5, "gp_weight": 10.0, "adv_weight": 1.0, "content": "perceptual",
           "content_weight": 100.0, "pixel_weight": 0.0, "feature_weight": 1.0, "lr": 1e-4, "betas": (0.5, 0.999),
           "constant_epochs": 150, "decay_epochs": 150, "min_lr": 0.0},
    "v2": {"gan_loss": "ragan-ls", "critic_steps": 1, "gp_weight": 0.0, "adv_weight": 0.001, "content": "perceptual",
           "content_weight": 1.0, "pixel_weight": 0.5, "feature_weight": 0.006, "lr": 1e-4, "betas": (0.9, 0.999),
           "constant_epochs": 50, "decay_epochs": 150, "min_lr": 1e-7},
}


def to_gan_range(x: Tensor) -> Tensor:
    """[0, 1] → [-1, 1]."""
    return x * 2 - 1


def from_gan_range(y: Tensor) -> Tensor:
    """[-1, 1] → [0, 1]."""
    return (y + 1) / 2


def align_sharp(sharp: Tensor, blurry: Tensor) -> Tensor:
    """Centre-crop ``sharp`` [N, C, H + K - 1, W + K - 1] ('valid' convention) to the blurry grid [N, C, H, W]."""
    dh, dw = sharp.shape[-2] - blurry.shape[-2], sharp.shape[-1] - blurry.shape[-1]
    if dh == 0 and dw == 0:
        return sharp
    if dh < 0 or dw < 0 or dh % 2 or dw % 2:
        raise DataError(f"sharp {tuple(sharp.shape[-2:])} vs blurry {tuple(blurry.shape[-2:])}: the sharp image must "
                        "be the same size or larger by an even K - 1", "use odd kernel sizes ('valid' convention)")
    return sharp[..., dh // 2: dh // 2 + blurry.shape[-2], dw // 2: dw // 2 + blurry.shape[-1]]


def load_generator_state(source: str, generator: nn.Module, arch: str | None = None,
                         ctor_args: dict[str, Any] | None = None) -> tuple[dict[str, Tensor], dict[str, Tensor] | None]:
    """(generator state, critic state or None) from ``source``.

    A Lightning ``.ckpt`` of this task gives the generator and its critic (resuming adversarial training);
    every other form goes through :func:`blurbench.zoo.load` (zoo name, ``hf-hub:`` repo, converted directory,
    official DeblurGAN v1 / v2 file, each through its own converter; ``#sha256=HEX`` verifies a file), with
    ``arch``/``ctor_args`` naming the network a bare file holds.
    """
    path = Path(source.partition("#")[0]).expanduser()
    if path.suffix == ".ckpt":
        if not path.is_file():
            raise ConfigError(f"init_from: checkpoint {path} not found", "train the base recipe first or fix the path")

        ckpt = read_checkpoint(path)
        sd = ckpt["state_dict"]
        gen = {k[len("generator."):]: v for k, v in sd.items() if k.startswith("generator.")}
        critic = {k[len("critic."):]: v for k, v in sd.items() if k.startswith("critic.")}
        if gen:
            _check_fits(source, gen, generator, (ckpt.get("hyper_parameters") or {}).get("generator_args"), ctor_args)
            return gen, critic or None
    net = load(source, arch=arch, ctor_args=ctor_args)
    if type(net) is not type(generator):
        raise ConfigError(f"init_from {source} holds a {type(net).__name__} but the generator is a "
                          f"{type(generator).__name__}", "set model.init_args.generator_arch (and generator_args) "
                          f"to the network of {source}, e.g. {net.zoo_config.get('arch')}")
    state = net.state_dict()
    _check_fits(source, state, generator, net.zoo_config.get("ctor_args"), ctor_args)
    return state, None


def _check_fits(source: str, state: dict[str, Tensor], generator: nn.Module, recorded: dict[str, Any] | None,
                configured: dict[str, Any] | None) -> None:
    """A one-line error with the ``generator_args`` to set when ``source`` holds the generator at another size.

    The usual cause: a user's own model (or a run of another recipe) has other widths or depths than the
    recipe's ``generator_args``; the strict load would list every key instead of saying what to set.
    """
    own = generator.state_dict()
    if state.keys() == own.keys() and all(state[k].shape == own[k].shape for k in own):
        return
    if not recorded or dict(recorded) == dict(configured or {}):
        return  # nothing else to suggest: the strict load reports the keys
    args = json.dumps(recorded, sort_keys=True)
    raise ConfigError(f"init_from {source} holds a {type(generator).__name__} built with {args}, not with this "
                      "recipe's generator_args", f"add --model.init_args.generator_args '{args}' (or set it in "
                      "the config) to fine-tune that network")


def _no_closure() -> None:
    return None


def zero_last_conv(net: nn.Module) -> None:
    """Zero the weights and bias of the last ``Conv2d`` of ``net`` (a residual generator then outputs its input)."""
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ConfigError(f"zero_init_residual: {type(net).__name__} has no Conv2d", "set zero_init_residual: false")
    with torch.no_grad():
        convs[-1].weight.zero_()
        if convs[-1].bias is not None:
            convs[-1].bias.zero_()


class DeblurGANTraining(L.LightningModule):
    """DeblurGAN generator + PatchGAN critic trained adversarially with a content loss (see module docstring).

    Args:
        preset: ``"v1"`` or ``"v2"`` (:data:`PRESETS`); the ``None`` arguments below take the preset's value.
        generator_arch / generator_args: zoo architecture (``blurbench.zoo.build_arch``) and its arguments,
            e.g. ``DeblurGANGenerator`` with ``{ngf: 16, n_blocks: 6}`` for the CPU recipes.
        critic_args: :class:`~blurbench.zoo.deblurgan.PatchGANCritic` arguments (ndf, n_layers, norm).
        gan_loss, critic_steps, gp_weight, adv_weight: adversarial setup.
        content, content_weight, pixel_weight, feature_weight, vgg_weights: content loss
            (:class:`~blurbench.tasks.losses.ContentLoss`).
        lr, betas, constant_epochs, decay_epochs, min_lr: Adam and the linear-decay schedule (per epoch).
        init_from: start from these weights (:func:`load_generator_state`); a ``.ckpt`` also restores the critic.
        zero_init_residual: zero the generator's last convolution (identity start; ``init_from`` overrides it).
        warmup_steps: raise the generator's learning rate linearly from 1/warmup_steps of its value over the first
            steps (0: none). Adam's first updates have the size of the learning rate whatever the gradient, which
            moves a zero-initialised head ~9 dB away from the identity in 2 steps at 1e-3 (measured on val).
    """

    def __init__(
        self,
        preset: str = "v1",
        generator_arch: str = "DeblurGANGenerator",
        generator_args: dict[str, Any] | None = None,
        critic_args: dict[str, Any] | None = None,
        gan_loss: str | None = None,
        critic_steps: int | None = None,
        gp_weight: float | None = None,
        adv_weight: float | None = None,
        content: str | None = None,
        content_weight: float | None = None,
        pixel_weight: float | None = None,
        feature_weight: float | None = None,
        vgg_weights: str | None = None,
        lr: float | None = None,
        betas: tuple[float, float] | None = None,
        constant_epochs: int | None = None,
        decay_epochs: int | None = None,
        min_lr: float | None = None,
        init_from: str | None = None,
        zero_init_residual: bool = False,
        warmup_steps: int = 0,
    ) -> None:
        super().__init__()
        if preset not in PRESETS:
            raise ConfigError(f"unknown DeblurGAN preset '{preset}'", f"choose one of: {', '.join(PRESETS)}")
        self.save_hyperparameters()
        given = {k: v for k, v in locals().items() if k in PRESETS[preset] and v is not None}
        self.cfg = {**PRESETS[preset], **given}
        self.automatic_optimization = False

        self.generator = build_arch(generator_arch, generator_args or {})
        self.critic = PatchGANCritic(**(critic_args or {}))
        self.gan = GANLoss(self.cfg["gan_loss"], self.cfg["gp_weight"])
        self.content = ContentLoss(self.cfg["content"], vgg_weights, self.cfg["pixel_weight"],
                                   self.cfg["feature_weight"])
        if zero_init_residual:
            zero_last_conv(self.generator)
        self._prepared = False
        # per-image values gathered from every rank: the epoch means are exact under DDP (torchmetrics classes)
        self.val_psnr, self.val_psnr_input = PSNR(), PSNR()

    def setup(self, stage: str) -> None:
        if stage == "fit":
            detect_unused_parameters(self)  # each manual backward reaches only the critic or only the generator
            self.prepare_training()

    def prepare_training(self) -> None:
        """Read what training needs from disk (VGG19 weights, ``init_from``); idempotent.

        Runs in ``setup("fit")``, not in ``__init__``: building the task from a config (or from a checkpoint
        for evaluation) never reads these files, and a missing one is a one-line ConfigError before training.
        """
        if self._prepared:
            return
        self.content.load()
        init_from = self.hparams.get("init_from")
        if init_from:
            gen, critic = load_generator_state(init_from, self.generator, self.hparams.generator_arch,
                                               self.hparams.generator_args)
            self._load_strict(self.generator, gen, f"init_from {init_from} (generator)")
            if critic is not None:
                self._load_strict(self.critic, critic, f"init_from {init_from} (critic)")
        self._prepared = True

    @staticmethod
    def _load_strict(module: nn.Module, state: dict[str, Tensor], what: str) -> None:
        load_state_dict_strict(module, state, what)

    # ------------------------------------------------------------------------------------------- data
    def gan_pair(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        """(blurry, aligned sharp) in [-1, 1] from a [0, 1] batch."""
        blurry = batch["blurry"]
        return to_gan_range(blurry), to_gan_range(align_sharp(batch["sharp"], blurry))

    def restore(self, blurry: Tensor) -> Tensor:
        """Deblur [N, 3, H, W] in [0, 1] → [0, 1]."""
        return from_gan_range(self.generator(to_gan_range(blurry)))

    # --------------------------------------------------------------------------------------- training
    def extra_generator_losses(self, batch: dict[str, Any], blurry: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """Additional weighted generator losses (name → scalar); none for plain DeblurGAN."""
        return {}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        opt_g, opt_d = self.optimizers()
        blurry, sharp = self.gan_pair(batch)
        fake = self.generator(blurry)
        adversarial = self.cfg["adv_weight"] > 0 and self.cfg["critic_steps"] > 0
        zero = torch.zeros((), device=blurry.device)
        loss_d, logs = zero, {}

        self.critic.requires_grad_(True)
        for _ in range(self.cfg["critic_steps"] if adversarial else 0):
            loss_d, logs = self.gan.critic_loss(self.critic, sharp, fake)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(loss_d)
            # Through the strategy (precision plugin, AMP scaler) but not LightningOptimizer.step, which would
            # count each critic update as a training step: `max_steps` and `global_step` count generator updates.
            self.trainer.strategy.optimizer_step(opt_d.optimizer, _no_closure)

        self.critic.requires_grad_(False)  # the generator step must not accumulate critic gradients
        adv = self.gan.generator_loss(self.critic, sharp, fake) if adversarial else zero
        content = self.content(fake, sharp)
        extra = self.extra_generator_losses(batch, blurry, fake)
        loss_g = self.cfg["adv_weight"] * adv + self.cfg["content_weight"] * content + sum(extra.values())
        warmup = self.hparams.get("warmup_steps") or 0
        if warmup and self.global_step <= warmup:  # on top of the per-epoch schedule (which sets lr each epoch)
            scale = min(1.0, (self.global_step + 1) / warmup) * self.lr_factor(self.current_epoch)
            for group in opt_g.param_groups:
                group["lr"] = group["initial_lr"] * scale
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        opt_g.step()
        self.critic.requires_grad_(True)

        n = blurry.shape[0]
        self.log_dict({"train/loss_d": loss_d.detach(), "train/adv": adv.detach(),
                       "train/content": content.detach(), **{f"train/{k}": v.detach() for k, v in extra.items()},
                       **{f"train/{k}": v for k, v in logs.items()}}, prog_bar=False, batch_size=n)
        self.log("train/loss_g", loss_g.detach(), prog_bar=True, batch_size=n)
        return loss_g.detach()

    def on_train_epoch_end(self) -> None:
        scheds = self.lr_schedulers() or []
        for sched in scheds if self.cfg["adv_weight"] > 0 and self.cfg["critic_steps"] > 0 else scheds[:1]:
            sched.step()  # without the adversarial term the critic's optimiser never steps: nor does its schedule

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        blurry = batch["blurry"]
        restored = self.restore(blurry).clamp(0, 1)
        sharp = align_sharp(batch["sharp"], blurry)
        self.val_psnr.update(restored, sharp)
        self.val_psnr_input.update(blurry, sharp)

    def on_validation_epoch_end(self) -> None:
        if not self.val_psnr.update_count:  # no validation batch this epoch (e.g. an empty val loader)
            return
        p, p_in = self.val_psnr.compute().float(), self.val_psnr_input.compute().float()
        self.log("val/psnr", p, prog_bar=True)
        self.log("val/psnr_input", p_in)  # the blurry input: the identity baseline beside the model
        self.log("val/gain", p - p_in, prog_bar=True)
        self.val_psnr.reset()
        self.val_psnr_input.reset()

    def lr_factor(self, epoch: int) -> float:
        """Learning-rate multiplier after ``epoch`` completed epochs (constant, then linear to ``min_lr``)."""
        c = self.cfg
        # the official update_learning_rate runs at the END of each epoch after the constant phase
        decayed = max(0, epoch - c["constant_epochs"])
        if c["decay_epochs"] <= 0:
            return 1.0
        floor = c["min_lr"] / c["lr"]
        return max(floor, 1.0 - min(decayed, c["decay_epochs"]) / c["decay_epochs"] * (1.0 - floor))

    def configure_optimizers(self):
        c = self.cfg
        betas = tuple(c["betas"])
        opt_g = torch.optim.Adam((p for p in self.generator.parameters() if p.requires_grad), lr=c["lr"], betas=betas)
        opt_d = torch.optim.Adam(self.critic.parameters(), lr=c["lr"], betas=betas)
        scheds = [torch.optim.lr_scheduler.LambdaLR(o, self.lr_factor) for o in (opt_g, opt_d)]
        return [opt_g, opt_d], scheds
