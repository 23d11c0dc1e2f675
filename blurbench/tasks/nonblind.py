"""Non-blind baselines: the blurry input itself, and deconvolution with a given (oracle) blur field."""

from __future__ import annotations

from typing import Any, Literal

import torch

from blurbench.errors import DataError
from blurbench.ops.deconvolution import richardson_lucy, tv_deconvolution
from blurbench.ops.reblur import BlurField
from blurbench.tasks.base import ImageRestorationTask


class Identity(ImageRestorationTask):
    """Returns the blurry input: the floor every method must beat."""

    def restore(self, batch: dict[str, Any]) -> torch.Tensor:
        return batch["blurry"]


class OracleFieldDeconvolution(ImageRestorationTask):
    """Deconvolves with the dataset's ground-truth field (``kernels``, ``mixing`` in the batch).

    Args:
        solver: ``"richardson_lucy"`` or ``"tv"``.
        iterations: solver iterations.
        tv_weight: TV weight (``"tv"`` only), images in [0, 1].
    """

    def __init__(self, solver: Literal["richardson_lucy", "tv"] = "richardson_lucy", iterations: int = 30,
                 tv_weight: float = 0.003) -> None:
        super().__init__()
        if solver not in ("richardson_lucy", "tv"):
            raise ValueError(f"unknown solver '{solver}': use 'richardson_lucy' or 'tv'")
        self.save_hyperparameters()
        self.solver, self.iterations, self.tv_weight = solver, iterations, tv_weight

    def restore(self, batch: dict[str, Any]) -> torch.Tensor:
        if "kernels" not in batch or "mixing" not in batch:
            raise DataError(
                f"{batch['id'][0]}: this dataset has no ground-truth blur field",
                "oracle-field methods run only on datasets that ship one (e.g. the built-in suite)",
            )
        blurry, kernels, mixing = batch["blurry"], batch["kernels"], batch["mixing"]
        if self.solver == "richardson_lucy":
            return richardson_lucy(blurry, BlurField(kernels, mixing), iterations=self.iterations)
        return tv_deconvolution(blurry, BlurField(kernels, mixing), weight=self.tv_weight, iterations=self.iterations)
