"""Official evaluation protocols of deblurring benchmarks, as their released code computes them.

Conventions: images enter as float tensors in [0, 1], RGB, [3, H, W] (or [N, 3, H, W] for the batched
helpers); the restored image is rounded to uint8 levels first, as if saved to the PNG the official scripts
read. All values are float64 per image; means over images are taken by the caller.

- :func:`realblur_psnr_ssim` — RealBlur (Rim et al. 2020, ``rimchang/RealBlur/evaluation_RealBlur_ecc.py``):
  intensity matching ``z ← (Σxz / Σz²)·z``, ECC homography from ``gray(z)`` to ``gray(gt)``
  (``cv2.findTransformECC``, ``(EPS|COUNT, 100, 0)``, ``gaussFiltSize=5``), warp of z with
  INTER_CUBIC + WARP_INVERSE_MAP and BORDER_REFLECT, validity mask = the warped image of ones
  (INTER_NEAREST, border 0), both images multiplied by the mask; PSNR = 10·log10(1 / (Σ(x−z)² / Σmask));
  SSIM = scikit-image's full Gaussian SSIM map (σ 1.5, population covariance, reflect padding) times the
  mask, 5 px border crop (the Gaussian radius), per-channel Σmap / Σmask, mean over channels.
- :func:`kohler_psnr` — Köhler et al. 2012 (``eval_image.m``): for every ground-truth frame, intensity
  scaling, integer-shift registration of the channel means by FFT cross-correlation (``dftregistration``
  with ``usfac = 1``), zero-filled shift, mask the ground truth, PSNR over all pixels (peak 1); the
  score is the best frame.
- :func:`ssim_matlab3d` — MATLAB ``ssim(A, B)`` on an H×W×3 array: the RGB image is a 3-D volume filtered
  with an isotropic 3-D Gaussian (σ 1.5, 11 taps per axis, replicate padding), SSIM map averaged over
  the whole volume (no valid crop). The per-channel 2-D convention is :func:`blurbench.metrics.image.ssim`.
- :func:`epe` — end-point error of optical flow: mean over pixels of ‖u_pred − u_gt‖₂ (pixels).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import Metric

from blurbench.errors import DataError
from blurbench.io import atomic_write_bytes
from blurbench.metrics.image import MAX_PSNR, ssim, ssim_map
from blurbench.ops.gaussian import gaussian_taps

__all__ = [
    "EPE", "SSIM3D", "KohlerPSNR", "RealBlurECC", "ecc_align", "epe", "integer_shift", "kohler_psnr",
    "read_flo", "realblur_psnr_ssim", "ssim_matlab3d", "write_flo",
]

REALBLUR_PROTOCOL = "realblur-ecc"
KOHLER_PROTOCOL = "kohler-max-frame"
_SSIM_SIGMA = 1.5
_SSIM_RADIUS = int(3.5 * _SSIM_SIGMA + 0.5)  # scikit-image's truncate=3.5 -> 5 px, the RealBlur border crop


def _to_hwc(image: torch.Tensor, quantize: bool) -> np.ndarray:
    """[3, H, W] in [0, 1] -> HWC float32 (rounded to uint8 levels when ``quantize``)."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an RGB image [3, H, W], got shape {tuple(image.shape)}")
    arr = image.detach().double().clamp(0, 1).cpu().numpy().transpose(1, 2, 0)
    if quantize:
        arr = np.round(arr * 255) / 255
    return np.ascontiguousarray(arr.astype(np.float32))


def _psnr_from_err(err: float) -> float:
    if err <= 0 or not math.isfinite(err):
        return MAX_PSNR
    return min(MAX_PSNR, 10 * math.log10(1.0 / err))


# ------------------------------------------------------------------------------------------- RealBlur
def ecc_align(restored: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """RealBlur's ``image_align``: (warped restored · mask, gt · mask, mask, 3×3 warp), HWC float32 in [0, 1].

    The warp maps gt pixel coordinates to restored coordinates (OpenCV's ECC convention); if ECC fails
    to converge (flat or uncorrelated images) the identity is used and a warning is issued.
    """
    z, x = restored.astype(np.float32), gt.astype(np.float32)
    zz = float(np.sum(z * z, dtype=np.float64))
    zs = (float(np.sum(x * z, dtype=np.float64)) / zz * z).astype(np.float32) if zz > 0 else z
    warp = np.eye(3, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 0)
    try:
        _, warp = cv2.findTransformECC(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.cvtColor(zs, cv2.COLOR_RGB2GRAY),
                                       warp, cv2.MOTION_HOMOGRAPHY, criteria, None, 5)
    except cv2.error as err:  # the official script would crash; one image must not stop a benchmark
        reason = getattr(err, "err", None) or str(err).strip()  # OpenCV's message without file/line
        warnings.warn(f"ECC alignment failed ({reason}); scoring unaligned", stacklevel=2)
        warp = np.eye(3, 3, dtype=np.float32)
    h, w = x.shape[:2]
    zr = cv2.warpPerspective(zs, warp, (w, h), flags=cv2.INTER_CUBIC + cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT)
    cr = cv2.warpPerspective(np.ones_like(zs, dtype=np.float32), warp, (w, h),
                             flags=cv2.INTER_NEAREST + cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
    return zr * cr, x * cr, cr, warp


def _masked_ssim(xr: np.ndarray, zr: np.ndarray, cr: np.ndarray) -> float:
    from skimage.metrics import structural_similarity  # deferred: scikit-image (this protocol only)

    _, smap = structural_similarity(xr, zr, channel_axis=2, gaussian_weights=True, sigma=_SSIM_SIGMA,
                                    use_sample_covariance=False, data_range=1.0, full=True)
    smap = smap * cr
    p = _SSIM_RADIUS
    per_channel = smap[p:-p, p:-p].sum(axis=(0, 1)) / np.maximum(cr[p:-p, p:-p].sum(axis=(0, 1)), 1e-12)
    return float(np.mean(per_channel))


def realblur_psnr_ssim(restored: torch.Tensor, gt: torch.Tensor, *, quantize: bool = True) -> tuple[float, float]:
    """RealBlur's ECC-aligned (PSNR dB, SSIM) of one restored image [3, H, W] against its gt (module docstring)."""
    if restored.shape != gt.shape:
        raise ValueError(f"restored {tuple(restored.shape)} and gt {tuple(gt.shape)} differ in shape")
    zr, xr, cr, _ = ecc_align(_to_hwc(restored, quantize), _to_hwc(gt, quantize))
    err = float(np.sum((xr.astype(np.float64) - zr) ** 2) / max(float(np.sum(cr, dtype=np.float64)), 1e-12))
    return _psnr_from_err(err), _masked_ssim(xr, zr, cr)


# --------------------------------------------------------------------------------------------- Köhler
def integer_shift(reference: np.ndarray, moving: np.ndarray) -> tuple[int, int]:
    """Integer (row, col) shift d maximising the circular cross-correlation: ``moving(n − d) ≈ reference(n)``.

    ``dftregistration(fft2(ref), fft2(mov), 1)``: peak of ``ifft2(F_ref · conj(F_mov))``, wrapped to
    [−size/2, size/2).
    """
    cc = np.fft.ifft2(np.fft.fft2(reference) * np.conj(np.fft.fft2(moving))).real
    r, c = np.unravel_index(int(np.argmax(cc)), cc.shape)
    m, n = cc.shape
    return (int(r - m) if r > m // 2 else int(r)), (int(c - n) if c > n // 2 else int(c))


def _shift_zero(img: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """out(n) = img(n − d) with zeros where n − d falls outside (MATLAB ``imshift(..., 'same')``)."""
    out = np.zeros_like(img)
    h, w = img.shape[:2]
    if abs(dr) >= h or abs(dc) >= w:
        return out
    out[max(dr, 0):h + min(dr, 0), max(dc, 0):w + min(dc, 0)] = img[max(-dr, 0):h - max(dr, 0),
                                                                    max(-dc, 0):w - max(dc, 0)]
    return out


def _kohler_one(z: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    zz = float(np.sum(z * z))
    zs = z * (float(np.sum(x * z)) / zz) if zz > 0 else z
    dr, dc = integer_shift(x.mean(axis=2), zs.mean(axis=2))
    cr = _shift_zero(np.ones_like(z), dr, dc)
    zr = _shift_zero(zs, dr, dc)
    xr = x * cr
    return _psnr_from_err(float(np.mean((xr - zr) ** 2))), xr, zr


def kohler_psnr(restored: torch.Tensor, frames: torch.Tensor, *, quantize: bool = True,
                with_ssim: bool = True) -> dict[str, float]:
    """Köhler's score of a restored image [3, H, W] against ground-truth frames [F, 3, H, W].

    Returns ``{"psnr": best PSNR over frames, "frame": its index, "ssim": per-channel Gaussian SSIM of the
    registered pair at that frame}`` (the ECCV paper reports PSNR only; SSIM at the best-PSNR frame is ours).
    """
    if frames.ndim != 4 or frames.shape[1:] != restored.shape:
        raise ValueError(f"frames {tuple(frames.shape)} must be [F, *{tuple(restored.shape)}]")
    z = _to_hwc(restored, quantize).astype(np.float64)
    best = (-math.inf, -1, None, None)
    for f in range(frames.shape[0]):
        x = _to_hwc(frames[f], quantize=False).astype(np.float64)
        value, xr, zr = _kohler_one(z, x)
        if value > best[0]:
            best = (value, f, xr, zr)
    out = {"psnr": best[0], "frame": float(best[1])}
    if with_ssim:
        xr, zr = (torch.from_numpy(a.transpose(2, 0, 1)).contiguous() for a in best[2:])
        out["ssim"] = float(ssim(zr[None], xr[None], quantize=False)[0])
    return out


# ------------------------------------------------------------------------------------------ MATLAB SSIM
def _gauss3d_replicate(x: torch.Tensor) -> torch.Tensor:
    """Separable 3-D Gaussian of x [N, D, H, W] with replicate padding (MATLAB ``imgaussfilt3``)."""
    g = gaussian_taps(_SSIM_SIGMA, 5, dtype=x.dtype, device=x.device)  # filter size 2·ceil(3σ) + 1 = 11
    v = x[:, None]  # [N, 1, D, H, W]
    for dim in range(3):
        pad = [0, 0, 0, 0, 0, 0]
        pad[2 * (2 - dim)] = pad[2 * (2 - dim) + 1] = 5
        v = F.pad(v, pad, mode="replicate")
        shape = [1, 1, 1, 1, 1]
        shape[2 + dim] = 11
        v = F.conv3d(v, g.view(shape))
    return v[:, 0]


def ssim_matlab3d(pred: torch.Tensor, target: torch.Tensor, *, quantize: bool = True) -> torch.Tensor:
    """MATLAB ``ssim`` of RGB images [N, 3, H, W] (or [3, H, W]) treated as H×W×3 volumes; returns [N] float64.

    Example:
        >>> x = torch.rand(1, 3, 16, 16)
        >>> float(ssim_matlab3d(x, x)[0])
        1.0
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if pred.ndim == 3:
        pred, target = pred[None], target[None]
    x, y = pred.double().clamp(0, 1), target.double().clamp(0, 1)
    if quantize:
        x, y = (x * 255).round() / 255, (y * 255).round() / 255
    return ssim_map(x, y, _gauss3d_replicate).mean(dim=(1, 2, 3))


# ----------------------------------------------------------------------------------------------- flow
def epe(flow_pred: torch.Tensor, flow_gt: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """End-point error per flow field [N, 2, H, W] (pixels): mean over (valid) pixels of the L2 difference."""
    if flow_pred.shape != flow_gt.shape or flow_pred.ndim != 4 or flow_pred.shape[1] != 2:
        raise ValueError(f"expected two [N, 2, H, W] flows, got {tuple(flow_pred.shape)} and {tuple(flow_gt.shape)}")
    err = (flow_pred.double() - flow_gt.double()).pow(2).sum(dim=1).sqrt()
    if valid is None:
        return err.mean(dim=(1, 2))
    valid = valid.to(err.dtype).reshape(err.shape)
    return (err * valid).sum(dim=(1, 2)) / valid.sum(dim=(1, 2)).clamp_min(1)


_FLO_MAGIC = 202021.25


def read_flo(path: str | Path) -> torch.Tensor:
    """Middlebury/Sintel ``.flo`` file -> float32 [2, H, W] (u = x displacement, v = y displacement)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            magic = np.fromfile(f, np.float32, 1)
            if magic.size != 1 or magic[0] != _FLO_MAGIC:
                raise DataError(f"{path}: not a .flo file (bad magic number)", "re-download the flow files")
            w, h = (int(v) for v in np.fromfile(f, np.int32, 2))
            data = np.fromfile(f, np.float32, 2 * w * h)
    except OSError as err:
        raise DataError(f"{path}: unreadable flow file ({err})", "check the dataset root") from err
    if data.size != 2 * w * h:
        raise DataError(f"{path}: truncated flow file", "re-download the flow files")
    return torch.from_numpy(data.reshape(h, w, 2).transpose(2, 0, 1).copy())


def flo_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) from a ``.flo`` header (None if unreadable or truncated)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(12)
        if len(head) < 12 or np.frombuffer(head[:4], np.float32)[0] != _FLO_MAGIC:
            return None
        w, h = (int(v) for v in np.frombuffer(head[4:], np.int32))
        return (w, h) if path.stat().st_size >= 12 + 8 * w * h else None
    except OSError:
        return None


def write_flo(path: str | Path, flow: torch.Tensor) -> None:
    """Write a [2, H, W] flow as a ``.flo`` file (atomic)."""
    arr = flow.detach().float().cpu().numpy().transpose(1, 2, 0)
    h, w = arr.shape[:2]
    atomic_write_bytes(path, np.float32(_FLO_MAGIC).tobytes() + np.array([w, h], np.int32).tobytes()
                       + np.ascontiguousarray(arr, dtype=np.float32).tobytes())


# -------------------------------------------------------------------------------- torchmetrics classes
class _Values(Metric):
    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("values", default=[], dist_reduce_fx="cat")

    def compute(self) -> torch.Tensor:
        values = self.values if isinstance(self.values, torch.Tensor) else torch.cat(self.values)
        return values.mean()


class SSIM3D(_Values):
    """Mean of per-image :func:`ssim_matlab3d` values."""

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        self.values.append(ssim_matlab3d(pred, target))


class EPE(_Values):
    """Mean of per-field :func:`epe` values (pixels, lower is better)."""

    higher_is_better = False

    def update(self, flow_pred: torch.Tensor, flow_gt: torch.Tensor) -> None:
        self.values.append(epe(flow_pred, flow_gt))


class RealBlurECC(_Values):
    """Mean ECC-aligned PSNR (``metric="psnr"``) or SSIM (``"ssim"``) over images [N, 3, H, W]."""

    def __init__(self, metric: str = "psnr", **kwargs) -> None:
        super().__init__(**kwargs)
        if metric not in ("psnr", "ssim"):
            raise ValueError(f"metric must be 'psnr' or 'ssim', got {metric!r}")
        self.metric = metric

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        k = 0 if self.metric == "psnr" else 1
        self.values.append(torch.tensor([realblur_psnr_ssim(p, t)[k] for p, t in zip(pred, target)],
                                        dtype=torch.float64))


class KohlerPSNR(_Values):
    """Mean of Köhler's best-frame PSNR; ``update(pred [N,3,H,W], frames [N,F,3,H,W])``."""

    def update(self, pred: torch.Tensor, frames: torch.Tensor) -> None:
        self.values.append(torch.tensor([kohler_psnr(p, f, with_ssim=False)["psnr"] for p, f in zip(pred, frames)],
                                        dtype=torch.float64))
