"""Non-blind deblurring with a spatially varying blur field: the dataset's (oracle) field or one estimated from the
blurry image by a blur-field network of the zoo, then a solver over ``reblur``/``reblur_adjoint``.

Solvers (:mod:`blurbench.ops`): ``"rl"`` Richardson–Lucy, ``"tv"`` TV-regularised primal–dual, ``"hsd"`` the
hybrid steepest descent with a denoiser prior of Carbajal et al. 2021 (:func:`blurbench.ops.hsd.hsd_deblur`), the
denoiser being ``"tv"`` (TV proximal step), ``"bilateral"`` or ``"drunet"`` (zoo ``drunet-color``; our
:class:`~blurbench.zoo.drunet.DRUNet` has the official ``drunet_color.pth`` key layout and loads it strictly), or any
model source of a DRUNet-like denoiser ``net(x, sigma)`` (e.g. a directory written by ``blurbench zoo convert
drunet-color``, used in an ``@FILE.yaml`` method).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from blurbench.errors import ConfigError, DataError
from blurbench.ops.deconvolution import richardson_lucy, tv_deconvolution
from blurbench.ops.denoisers import BilateralDenoiser, TVDenoiser
from blurbench.ops.hsd import hsd_deblur
from blurbench.ops.reblur import BlurField
from blurbench.tasks.base import ImageRestorationTask
from blurbench.zoo import load
from blurbench.zoo.sources import is_model_source

__all__ = ["FieldDeblurring", "build_field_estimator", "estimate_field", "field_from_batch"]

ORACLE = "oracle"
SOLVERS = ("rl", "tv", "hsd")
DENOISERS = ("tv", "bilateral", "drunet")


def build_field_estimator(name: str, pretrained: bool = True) -> nn.Module:
    """Blur-field network ``name`` (any source of :func:`blurbench.zoo.load`), frozen, eval mode; random weights
    if not ``pretrained``."""
    return load(name, pretrained=pretrained).requires_grad_(False).eval()


def estimate_field(net: nn.Module, blurry: Tensor) -> tuple[Tensor, Tensor]:
    """(kernels [N, B, K, K], mixing [N, B, H, W]) predicted from ``blurry`` [N, 3, H, W] in [0, 1]."""
    with torch.no_grad():
        kernels, mixing = net(blurry)
    return kernels.to(blurry.dtype), mixing.to(blurry.dtype)


def field_from_batch(batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
    """The dataset's ground-truth field, or a clear error when it has none."""
    if "kernels" not in batch or "mixing" not in batch:
        raise DataError(f"{batch['id'][0]}: this dataset has no ground-truth blur field",
                        "oracle-field methods run only on datasets that ship one (e.g. the built-in suite)")
    return batch["kernels"], batch["mixing"]


def _denoiser(name: str, args: dict[str, Any], pretrained: bool) -> Any:
    if name == "tv":
        return TVDenoiser(**args)
    if name == "bilateral":
        return BilateralDenoiser(**args)
    if name == "drunet" or is_model_source(name):
        net = load("drunet-color" if name == "drunet" else name, pretrained=pretrained, **args)
        for p in net.parameters():
            p.requires_grad_(False)
        return net.eval()
    raise ConfigError(f"unknown denoiser '{name}'", f"choose one of: {', '.join(DENOISERS)}, or a model source of a "
                      "denoiser (e.g. a directory written by `blurbench zoo convert drunet-color`)")


class FieldDeblurring(ImageRestorationTask):
    """Deblurring with a blur field and a model-based solver.

    Args:
        field: ``"oracle"`` (the dataset's ground truth, batch keys ``kernels``/``mixing``) or a zoo blur-field
            model name (``"blurfield-small"``, ``"carbajal2021"``) that estimates it from the blurry image.
        solver: ``"rl"``, ``"tv"`` or ``"hsd"``.
        iterations: solver iterations.
        solver_args: extra solver arguments — ``tv``: ``weight``; ``hsd``: ``stages``, ``sigma_first``,
            ``sigma_last``, ``sigma_ratio``, ``alpha``, ``step``, ``saturation``, ``clamp``.
        denoiser: ``hsd`` only: ``"tv"``, ``"bilateral"``, ``"drunet"`` (zoo ``drunet-color``) or a model source
            of a DRUNet-like ``net(x, sigma)`` (:func:`blurbench.zoo.load`).
        denoiser_args: arguments of the denoiser (e.g. ``{"scale": 1.0, "iterations": 10}`` for TV).
        pretrained: load the networks' weights (False: random weights, for tests).
    """

    def __init__(self, field: str = ORACLE, solver: Literal["rl", "tv", "hsd"] = "hsd", iterations: int = 30,
                 solver_args: dict[str, Any] | None = None, denoiser: str = "tv",
                 denoiser_args: dict[str, Any] | None = None, pretrained: bool = True) -> None:
        super().__init__()
        if solver not in SOLVERS:
            raise ConfigError(f"unknown solver '{solver}'", f"choose one of: {', '.join(SOLVERS)}")
        if iterations < 1:
            raise ConfigError(f"iterations must be >= 1, got {iterations}", "pass a positive number")
        self.save_hyperparameters()
        self.field, self.solver, self.iterations = field, solver, iterations
        self.solver_args = dict(solver_args or {})
        self.estimator = None if field == ORACLE else build_field_estimator(field, pretrained)
        self.denoiser = _denoiser(denoiser, dict(denoiser_args or {}), pretrained) if solver == "hsd" else None

    def blur_field(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        if self.estimator is None:
            return field_from_batch(batch)
        return estimate_field(self.estimator, batch["blurry"])

    def restore(self, batch: dict[str, Any]) -> Tensor:
        blurry = batch["blurry"]
        kernels, mixing = self.blur_field(batch)
        if self.solver == "rl":
            return richardson_lucy(blurry, BlurField(kernels, mixing), iterations=self.iterations, **self.solver_args)
        if self.solver == "tv":
            return tv_deconvolution(blurry, BlurField(kernels, mixing), iterations=self.iterations,
                                    **self.solver_args)
        # HSD's unknown is the sharp image with a K - 1 border: the 'valid' model of the same field
        return hsd_deblur(blurry, BlurField(kernels, mixing, "valid"), self.denoiser, iterations=self.iterations,
                          **self.solver_args)
