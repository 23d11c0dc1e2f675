"""Training task for blur-field estimators (Carbajal et al. 2021): reblur loss + per-pixel kernel loss.

Batches are those of :class:`~blurbench.datamodules.synthetic.SyntheticBlurDataModule` ('valid' convention):
``sharp`` [N, 3, H + K - 1, W + K - 1], ``blurry`` [N, 3, H, W], GT ``kernels`` [N, Bgt, K, K], ``mixing``
[N, Bgt, H, W], ``weights`` [N, H, W] (``roi / (segment area + 1)``, :func:`blurbench.ops.regions.loss_weights`).

The network (any ``nn.Module`` mapping an image in [0, 1] to ``(kernels [N, B, K, K], mixing [N, B, H, W])``,
e.g. :class:`blurbench.zoo.carbajal.BlurFieldNet`, which applies ``x ** gamma - 0.5`` itself) predicts
``k̂, m̂`` from ``blurry``. With ``g`` = ``loss_gamma`` (default: the network's ``gamma`` attribute, else 1) the
forward model holds in linear light ``u ** g`` (the datamodule's ``gamma`` must be the same), and::

    reblur loss (paper eq. 3) = 1/N sum_n sum_{c,x} w(x) (reblur(sharp**g, k̂, m̂, "valid") - blurry**g)²
    kernel loss (paper eq. 4) = 1/N sum_n sum_x w(x) D(k̂_x, k_x),   k_x = sum_b m_b(x) k_b
    loss = reblur_weight * reblur loss + kernel_weight * kernel loss          (both weights 1 by default)

``D`` is the squared L2 distance over the K² taps before epoch ``l1_from_epoch`` and the L1 distance from
then on (paper: 350 of 900 epochs). These are the definitions of the authors' training script
(``compute_reblurred_image_and_kernel_loss`` and the two-heads trainer: weighted *sums* over taps, channels
and pixels, divided by the batch size; the same per-pixel weights in both terms). Memory: L2 uses the Gram
identity (:func:`blurbench.ops.field_loss.field_sq_distance`, O(N·H·W·B)); L1 forms per-pixel kernels of at
most ``l1_chunk`` ROI pixels at a time under checkpointing (≈ 3 · l1_chunk · K² · 4 bytes extra at peak).

Deviations from the authors' script, on purpose: no soft saturation of the re-blurred image (their
``apply_saturation_function``; our synthetic blurry images are clamped to [0, 1] and the re-blur of an image
in [0, 1] with normalised kernels stays in [0, 1]); He (fan-in) initialisation (``BlurFieldNet(init=
"kaiming")``) instead of their ``weight_init`` (normal, std 0.5·sqrt(2/fan_out)); gamma handled by the
network's ``preprocess`` (their later script feeds ``image - 0.5``, i.e. gamma 1). The StepLR (×0.5) steps
every optimisation step with ``step_size`` = half of the total steps, as their script does.

Validation logs ``val/reblur_psnr`` (dB, display space, uint8-rounded, :func:`blurbench.metrics.image.psnr`),
``val/kernel_error`` (mean over all pixels of ``||k̂_x - k_x||₂``), beside it ``val/kernel_error_mean_kernel``
(the same error of the ``mean-kernel`` baseline: the training bank's mean kernel everywhere; logged when the
datamodule has a kernel bank) and their ratio ``val/kernel_error_ratio`` (< 1: better than the mean kernel),
and pictures (TensorBoard only): the
per-pixel kernels drawn over the blurry image (predicted and GT), the mixing maps and the kernel basis.

Export: ``blurbench zoo export CHECKPOINT --out DIR [--name NAME] [--recipe PRESET]`` (the network is recorded in
the checkpoint; the directory is then a method, a ``blurfield`` source and what ``zoo push`` uploads).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics.aggregation import MeanMetric

from blurbench.errors import DataError
from blurbench.metrics.image import PSNR
from blurbench.ops.field_loss import field_sq_distance, weighted_l1_kernel_distance, weighted_l2_kernel_distance
from blurbench.ops.reblur import BlurField
from blurbench.ops.visualize import basis_grid, kernel_field_image, mixing_grid
from blurbench.tasks.distributed import detect_unused_parameters

__all__ = ["BlurFieldEstimation", "blurfield_losses", "kernel_error"]

_NEEDED = ("sharp", "blurry", "kernels", "mixing", "weights")


def kernel_error(pred_kernels: Tensor, pred_mixing: Tensor, kernels: Tensor, mixing: Tensor) -> Tensor:
    """Per-sample mean over pixels of ``||k̂_x - k_x||₂`` [N] (Gram identity, computed in float64)."""
    d = field_sq_distance(BlurField(pred_kernels.double(), pred_mixing.double()),
                          BlurField(kernels.double(), mixing.double()))
    return d.clamp_min(0).sqrt().flatten(1).mean(1)


def _subsample_weights(weights: Tensor, count: int) -> Tensor:
    """Keep ``count`` random non-zero-weight pixels per sample, rescaled so the weighted sum stays unbiased."""
    flat = weights.flatten(1)
    out = torch.zeros_like(flat)
    for i in range(flat.shape[0]):
        idx = torch.nonzero(flat[i] != 0).squeeze(1)
        if idx.numel() <= count:
            out[i] = flat[i]
            continue
        pick = idx[torch.randperm(idx.numel(), device=idx.device)[:count]]
        out[i, pick] = flat[i, pick] * (idx.numel() / count)
    return out.view_as(weights)


def blurfield_losses(sharp: Tensor, blurry: Tensor, pred_kernels: Tensor, pred_mixing: Tensor, kernels: Tensor,
                     mixing: Tensor, weights: Tensor, *, norm: str = "l2", gamma: float = 1.0,
                     l1_chunk: int = 4096, l1_pixels: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """(reblur loss, kernel loss, re-blurred linear image [N, 3, H, W]) as defined in the module docstring.

    ``l1_pixels``: with the L1 norm, use only this many pixels per sample, drawn uniformly (torch's global RNG)
    among those of non-zero weight, their weights scaled by (#non-zero / l1_pixels): an unbiased estimate of the
    full L1 loss at a fraction of its cost. None: every pixel.
    """
    if norm not in ("l1", "l2"):
        raise ValueError(f"kernel-loss norm must be 'l1' or 'l2', got {norm!r}")
    n = blurry.shape[0]
    lin_sharp = sharp.clamp_min(0).pow(gamma) if gamma != 1 else sharp
    lin_blurry = blurry.clamp_min(0).pow(gamma) if gamma != 1 else blurry
    pred, gt = BlurField(pred_kernels, pred_mixing, "valid"), BlurField(kernels, mixing, "valid")
    reblurred = pred.A(lin_sharp)
    reblur_loss = ((reblurred - lin_blurry).pow(2) * weights[:, None]).sum() / n
    if norm == "l2":
        per = weighted_l2_kernel_distance(pred, gt, weights)
    else:
        if l1_pixels is not None:
            weights = _subsample_weights(weights, l1_pixels)
        per = weighted_l1_kernel_distance(pred, gt, weights, chunk=l1_chunk)
    return reblur_loss, per.sum() / n, reblurred


class BlurFieldEstimation(L.LightningModule):
    """Trains a blur-field network with the reblur + kernel losses (module docstring).

    Args:
        network: the estimator (YAML: ``class_path: blurbench.zoo.carbajal.BlurFieldNet`` + ``init_args``).
        optimizer: optimizer factory (LightningCLI ``OptimizerCallable``); None = Adam(lr).
        scheduler: LR scheduler factory; None = StepLR ×0.5 once, at half of the total steps (stepped per step).
        lr: learning rate of the default Adam.
        l1_from_epoch: first epoch with the L1 kernel loss (None: L2 throughout; paper: 350 of 900).
        reblur_weight, kernel_weight: loss weights (paper: 1 and 1).
        loss_gamma: linearisation exponent of the losses; None = ``network.gamma`` (1.0 if it has none). Must
            equal the datamodule's ``gamma``.
        l1_chunk: pixels per chunk of the L1 kernel loss (memory bound).
        l1_pixels: L1 kernel loss on this many random ROI pixels per sample (unbiased; None = all pixels).
        image_samples: how many validation samples get pictures each validation epoch.
    """

    def __init__(self, network: nn.Module, optimizer: OptimizerCallable | None = None,
                 scheduler: LRSchedulerCallable | None = None, lr: float = 1e-4, l1_from_epoch: int | None = None,
                 reblur_weight: float = 1.0, kernel_weight: float = 1.0, loss_gamma: float | None = None,
                 l1_chunk: int = 4096, l1_pixels: int | None = None, image_samples: int = 2) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["network", "optimizer", "scheduler"])
        self.network = network
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.gamma = float(loss_gamma if loss_gamma is not None else getattr(network, "gamma", 1.0))
        # torchmetrics states reduced over every rank: exact epoch means under DDP
        self.val_reblur_psnr = PSNR()
        self.val_kernel_error, self.val_kernel_error_mean_kernel = MeanMetric(), MeanMetric()

    def setup(self, stage: str) -> None:
        detect_unused_parameters(self)  # BlurFieldNet's grey-input stem gets no gradient from RGB batches

    # --------------------------------------------------------------------------------------- helpers
    def forward(self, blurry: Tensor) -> tuple[Tensor, Tensor]:
        return self.network(blurry)

    def kernel_norm(self) -> str:
        start = self.hparams.l1_from_epoch
        return "l1" if start is not None and self.current_epoch >= start else "l2"

    @staticmethod
    def _check_batch(batch: dict[str, Any]) -> None:
        missing = [k for k in _NEEDED if k not in batch]
        if missing:
            raise DataError(f"training batch lacks {', '.join(missing)}",
                            "train with SyntheticBlurDataModule (or a datamodule giving the GT field and weights)")

    def _step(self, batch: dict[str, Any], stage: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        self._check_batch(batch)
        pred_k, pred_m = self.network(batch["blurry"])
        norm = self.kernel_norm()
        rb, kl, reblurred = blurfield_losses(batch["sharp"], batch["blurry"], pred_k, pred_m, batch["kernels"],
                                             batch["mixing"], batch["weights"], norm=norm, gamma=self.gamma,
                                             l1_chunk=self.hparams.l1_chunk,
                                             l1_pixels=self.hparams.l1_pixels if stage == "train" else None)
        loss = self.hparams.reblur_weight * rb + self.hparams.kernel_weight * kl
        n = batch["blurry"].shape[0]
        on_step = stage == "train"
        # sync_dist: under DDP epoch means (and the checkpointed val metrics) cover every rank's samples
        kw = {"batch_size": n, "on_step": on_step, "on_epoch": True, "sync_dist": True}
        self.log(f"{stage}/loss", loss, prog_bar=True, **kw)
        self.log(f"{stage}/reblur_loss", rb, **kw)
        self.log(f"{stage}/kernel_loss_{norm}", kl, **kw)
        return loss, pred_k, pred_m, reblurred

    # ------------------------------------------------------------------------------------ lightning
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self._step(batch, "train")[0]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        _, pred_k, pred_m, reblurred = self._step(batch, "val")
        display = reblurred.clamp(0, 1).pow(1 / self.gamma) if self.gamma != 1 else reblurred.clamp(0, 1)
        n = display.shape[0]
        self.val_reblur_psnr.update(display, batch["blurry"])
        self.val_kernel_error.update(kernel_error(pred_k, pred_m, batch["kernels"], batch["mixing"]).float())
        mean_k = self._bank_mean_kernel()
        if mean_k is not None:
            k = mean_k.to(pred_k)[None, None].expand(n, 1, -1, -1)
            base = kernel_error(k, torch.ones_like(pred_m[:, :1]), batch["kernels"], batch["mixing"])
            self.val_kernel_error_mean_kernel.update(base.float())
        if batch_idx == 0:
            self._log_pictures(batch, pred_k, pred_m)

    def on_validation_epoch_end(self) -> None:
        if not self.val_kernel_error.update_count:  # no validation batch this epoch (e.g. an empty val loader)
            return
        self.log("val/reblur_psnr", self.val_reblur_psnr.compute().float(), prog_bar=True)
        err = self.val_kernel_error.compute()
        self.log("val/kernel_error", err, prog_bar=True)
        if self.val_kernel_error_mean_kernel.update_count:
            base = self.val_kernel_error_mean_kernel.compute()
            self.log("val/kernel_error_mean_kernel", base)  # the trivial baseline beside the model
            self.log("val/kernel_error_ratio", err / base.clamp_min(1e-12))  # ratio of the epoch means
        for metric in (self.val_reblur_psnr, self.val_kernel_error, self.val_kernel_error_mean_kernel):
            metric.reset()

    def _bank_mean_kernel(self) -> Tensor | None:
        """The mean kernel of the datamodule's kernel bank (None without one), computed once."""
        if not hasattr(self, "_mean_kernel"):
            bank = getattr(getattr(self._trainer, "datamodule", None), "_bank", None) if self._trainer else None
            self._mean_kernel = None if bank is None else torch.from_numpy(bank.mean_kernel())
        return self._mean_kernel

    def _log_pictures(self, batch: dict[str, Any], pred_k: Tensor, pred_m: Tensor) -> None:
        for logger in self.loggers:
            experiment = getattr(logger, "experiment", None)
            if not hasattr(experiment, "add_image"):  # CSV and others get the scalars only
                continue
            for i in range(min(self.hparams.image_samples, batch["blurry"].shape[0])):
                blurry = batch["blurry"][i]
                pictures = {
                    "kernels_pred": kernel_field_image(blurry, pred_k[i], pred_m[i]),
                    "kernels_gt": kernel_field_image(blurry, batch["kernels"][i], batch["mixing"][i]),
                    "mixing_pred": mixing_grid(pred_m[i]),
                    "basis_pred": basis_grid(pred_k[i]),
                }
                for tag, img in pictures.items():
                    experiment.add_image(f"val/{tag}/{i}", img, self.global_step)

    def configure_optimizers(self) -> dict[str, Any]:
        params = self.network.parameters()
        opt = (self.optimizer_factory(params) if self.optimizer_factory is not None
               else torch.optim.Adam(params, lr=self.hparams.lr))
        if self.scheduler_factory is not None:
            return {"optimizer": opt, "lr_scheduler": self.scheduler_factory(opt)}
        total = int(self.trainer.estimated_stepping_batches) if self._trainer is not None else 2
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, total // 2), gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # the network is not a hyperparameter (it is a module); keep what rebuilds it for export
        net = self.network
        if all(hasattr(net, a) for a in ("kernel_size", "num_basis", "base_width", "gamma")):
            checkpoint["blurfield_network"] = {
                "class": f"{type(net).__module__}.{type(net).__qualname__}", "kernel_size": net.kernel_size,
                "num_basis": net.num_basis, "base_width": net.base_width, "gamma": net.gamma,
            }
