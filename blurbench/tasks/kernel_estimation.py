"""Kernel-estimation methods for ``blurbench evaluate`` (table "kernel-estimation") and ``blurbench predict``.

A method maps a blurry image [N, 3, H, W] in [0, 1] to a blur field: kernels [N, B, K, K] (correlation kernels,
``F.conv2d`` convention, each summing to 1) and mixing maps [N, B, H, W] (summing to 1 over B). Metrics per
sample, against the dataset's ground truth (``sharp``, ``kernels``, ``mixing``; the built-in ``motion`` sets):

- ``reblur_psnr`` (dB): PSNR (:func:`blurbench.metrics.image.psnr`: RGB, uint8-rounded) between the blurry image
  and ``reblur(sharp, k̂, m̂, "reflect")`` — the GT sharp image re-blurred with the estimated field at full size
  (the padding the built-in suite was generated with). The GT field gives the noise-free blurry image exactly
  (up to the 8-bit rounding of the stored image).
- ``kernel_error``: ``mean_x ||k̂_x - k_x||₂`` over all H × W pixels, where ``k_x = sum_b m_b(x) k_b`` is the
  per-pixel kernel (K² taps, sums to 1) and ||·||₂ the Euclidean norm over taps; computed with the Gram identity
  (:func:`blurbench.ops.field_loss.field_sq_distance`, float64, never forming the per-pixel kernels). 0 for the
  GT field; it is not invariant to shifts (a kernel estimated one pixel off counts as an error, as in the
  training loss). If the estimated kernels are smaller than the GT ones they are zero-padded (centred).

Methods: :class:`BlurFieldNetMethod` (a zoo network, e.g. the shipped ``blurfield-small``), :class:`MeanKernel`
(the training bank's mean kernel everywhere) and :class:`OracleUniform` (the best single kernel fitted with the
GT sharp image, :func:`blurbench.ops.kernel_fit.fit_uniform_kernel`).

Prediction (``blurbench predict --method NAME --input PATH --output DIR``) writes per input image ``<id>``:
``<stem>_kernels.png`` (per-pixel kernels over the image, :func:`blurbench.ops.visualize.kernel_field_image`),
``<stem>_mixing.png`` (mixing maps mosaic), ``<stem>_basis.png`` (kernel basis mosaic) and
``<stem>_field.safetensors`` (``kernels`` [B, K, K], ``mixing`` [B, H, W] float32; metadata ``convention``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save
from torch import Tensor

from blurbench.datamodules.skimage_train import bank_mean_kernel
from blurbench.errors import DataError
from blurbench.io import atomic_write_bytes, write_image
from blurbench.metrics.image import psnr
from blurbench.ops.field_loss import field_sq_distance
from blurbench.ops.kernel_fit import fit_uniform_kernel
from blurbench.ops.reblur import BlurField
from blurbench.ops.visualize import basis_grid, kernel_field_image, mixing_grid
from blurbench.tasks.base import EvaluationTask
from blurbench.zoo import load

__all__ = ["BlurFieldNetMethod", "KernelEstimationTask", "MeanKernel", "OracleUniform", "field_metrics"]

FIELD_CONVENTION = ("v = sum_b m_b * (u correlated with k_b) (F.conv2d, no flip), kernels [B,K,K] sum to 1, "
                    "mixing [B,H,W] sums to 1 over B")


def _pad_kernels(k: Tensor, size: int) -> Tensor:
    """Zero-pad [N, B, k, k] kernels (centred) to size × size."""
    if k.shape[-1] == size:
        return k
    if k.shape[-1] > size:
        raise ValueError(f"estimated kernels ({k.shape[-1]} px) are larger than the GT ones ({size} px)")
    lo = (size - k.shape[-1]) // 2
    hi = size - k.shape[-1] - lo
    return F.pad(k, (lo, hi, lo, hi))


def field_metrics(sharp: Tensor, blurry: Tensor, kernels: Tensor, mixing: Tensor, gt_kernels: Tensor,
                  gt_mixing: Tensor) -> list[dict[str, float]]:
    """Per-sample ``reblur_psnr`` and ``kernel_error`` (definitions in the module docstring)."""
    reblurred = BlurField(kernels.float(), mixing.float(), "reflect").A(sharp.float()).clamp(0, 1)
    p = psnr(reblurred, blurry)
    size = max(kernels.shape[-1], gt_kernels.shape[-1])
    d = field_sq_distance(BlurField(_pad_kernels(kernels.double(), size), mixing.double()),
                          BlurField(_pad_kernels(gt_kernels.double(), size), gt_mixing.double()))
    err = d.clamp_min(0).sqrt().flatten(1).mean(1)
    return [{"reblur_psnr": float(a), "kernel_error": float(b)} for a, b in zip(p, err)]


class KernelEstimationTask(EvaluationTask):
    """Base of kernel-estimation methods: implement :meth:`estimate`."""

    task = "kernel-estimation"
    data_kind = "image"

    def estimate(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        """Blur field of ``batch["blurry"]``: (kernels [N, B, K, K], mixing [N, B, H, W])."""
        raise NotImplementedError

    def evaluate_batch(self, batch: dict[str, Any]) -> list[dict[str, float]]:
        missing = [k for k in ("sharp", "kernels", "mixing") if k not in batch]
        if missing:
            raise DataError(f"{batch['id'][0]}: the dataset has no ground-truth {', '.join(missing)}",
                            "kernel-estimation metrics need a GT blur field (the built-in motion datasets)")
        kernels, mixing = self.estimate(batch)
        return field_metrics(batch["sharp"], batch["blurry"], kernels, mixing, batch["kernels"], batch["mixing"])

    # ------------------------------------------------------------------------------------- prediction
    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        with torch.inference_mode():
            kernels, mixing = self.estimate(batch)
        return {"id": batch["id"], "blurry": batch["blurry"], "kernels": kernels, "mixing": mixing}

    def write_prediction(self, output_dir: Path, prediction: dict[str, Any]) -> None:
        """Per item: ``<stem>_kernels.png``, ``_mixing.png``, ``_basis.png``, ``_field.safetensors``."""
        for i, item_id in enumerate(prediction["id"]):
            base = Path(output_dir) / item_id
            stem = base.with_suffix("")
            stem.parent.mkdir(parents=True, exist_ok=True)
            k = prediction["kernels"][i].detach().float().cpu()
            m = prediction["mixing"][i].detach().float().cpu()
            write_image(f"{stem}_kernels.png", kernel_field_image(prediction["blurry"][i], k, m))
            write_image(f"{stem}_mixing.png", mixing_grid(m))
            write_image(f"{stem}_basis.png", basis_grid(k))
            atomic_write_bytes(f"{stem}_field.safetensors",
                               save({"kernels": k.contiguous(), "mixing": m.contiguous()},
                                    metadata={"convention": FIELD_CONVENTION}))


# --------------------------------------------------------------------------------------------- methods
class BlurFieldNetMethod(KernelEstimationTask):
    """A zoo blur-field network (:class:`blurbench.zoo.carbajal.BlurFieldNet`) run on the full blurry image.

    Args:
        model: any model source of :func:`blurbench.zoo.load` (``blurfield-small``: shipped; ``carbajal2021``: the
            released network, from the Hub cache; a converted directory, ``hf-hub:`` repo or training .ckpt).
        gamma: override of the network's input gamma; None = the value recorded with the weights.
    """

    def __init__(self, model: str = "blurfield-small", gamma: float | None = None) -> None:
        super().__init__()

        self.network = load(model, **({"gamma": gamma} if gamma is not None else {}))
        self._sha256 = getattr(self.network, "weights_sha256", None)

    def weights_sha256(self) -> str | None:
        return self._sha256

    def estimate(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        blurry = batch["blurry"]
        if min(blurry.shape[-2:]) < 32:
            raise DataError(f"{batch['id'][0]}: {blurry.shape[-2]}x{blurry.shape[-1]} px is too small for the "
                            "blur-field network", "use images of at least 32x32 pixels")
        return self.network(blurry)


class MeanKernel(KernelEstimationTask):
    """The mean kernel of the training kernel bank, everywhere (the floor a learned estimator must beat).

    Args:
        bank_size, bank_seed, kernel_size: the bank of the training recipe (``configs/blurfield/small_cpu.yaml``:
            20,000 camera-shake kernels, seed 2021); generated into the cache once, then reused.
    """

    def __init__(self, bank_size: int = 20_000, bank_seed: int = 2021, kernel_size: int = 33) -> None:
        super().__init__()

        self.register_buffer("kernel", torch.from_numpy(bank_mean_kernel(bank_size, bank_seed, kernel_size)))

    def estimate(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        n, _, h, w = batch["blurry"].shape
        k = self.kernel.to(batch["blurry"])
        return k.expand(n, 1, *k.shape).contiguous(), batch["blurry"].new_ones(n, 1, h, w)


class OracleUniform(KernelEstimationTask):
    """The best single kernel for each image, fitted by least squares with the GT sharp image (an oracle: it
    sees ``sharp``). Bounds what any spatially uniform estimate can reach; see
    :func:`blurbench.ops.kernel_fit.fit_uniform_kernel` for the solver.
    """

    def __init__(self, kernel_size: int = 33, pixels: int = 2048, iterations: int = 500) -> None:
        super().__init__()
        self.kernel_size, self.pixels, self.iterations = kernel_size, pixels, iterations

    def estimate(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        if "sharp" not in batch:
            raise DataError(f"{batch['id'][0]}: oracle-uniform needs the GT sharp image",
                            "run it on datasets with ground truth (e.g. the built-in suite)")
        blurry = batch["blurry"]
        ks = torch.stack([fit_uniform_kernel(s, b, self.kernel_size, pixels=self.pixels, iterations=self.iterations)
                          for s, b in zip(batch["sharp"], blurry)])
        n, _, h, w = blurry.shape
        return ks[:, None].to(blurry), blurry.new_ones(n, 1, h, w)
