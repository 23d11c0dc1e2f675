"""Official protocols: RealBlur ECC alignment, Köhler best frame, MATLAB 3-D SSIM, flow EPE."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from blurbench.metrics.image import psnr, ssim
from blurbench.metrics.protocols import (
    EPE,
    SSIM3D,
    KohlerPSNR,
    RealBlurECC,
    ecc_align,
    epe,
    integer_shift,
    kohler_psnr,
    read_flo,
    realblur_psnr_ssim,
    ssim_matlab3d,
    write_flo,
)


def _texture(h: int = 96, w: int = 96, seed: int = 0) -> np.ndarray:
    """Smooth random RGB texture HWC float32 in [0.1, 0.9] (ECC needs gradients at several scales)."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 2.0)
    img = (img - img.min()) / (img.max() - img.min())
    return (0.1 + 0.8 * img).astype(np.float32)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


def test_ecc_identical_pair_gives_plain_psnr():
    x = _t(_texture())
    p, s = realblur_psnr_ssim(x, x)
    assert p == float(psnr(x[None], x[None])[0]) == 100.0 and s == pytest.approx(1.0)
    noisy = (x + 0.02 * torch.randn_like(x)).clamp(0, 1)
    p, _ = realblur_psnr_ssim(noisy, x)
    assert p == pytest.approx(float(psnr(noisy[None], x[None])[0]), abs=0.3)


def test_ecc_recovers_known_homography_and_masks_border():
    gt = _texture(seed=1)
    h, w = gt.shape[:2]
    H = np.array([[1.0, 0.01, 2.5], [-0.008, 1.0, -1.5], [1e-5, 0.0, 1.0]], np.float32)
    # restored = gt seen through H (restored(p) = gt(H^-1 p)), darker: intensity matching must undo both
    moved = cv2.warpPerspective(gt, H, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT) * 0.9
    zr, xr, cr, warp = ecc_align(moved.astype(np.float32), gt)
    warp = warp / warp[2, 2]
    assert np.allclose(warp[:2, :2], H[:2, :2], atol=0.005) and np.allclose(warp[:2, 2], H[:2, 2], atol=0.15)
    aligned, _ = realblur_psnr_ssim(_t(moved), _t(gt))
    plain = float(psnr(_t(moved)[None], _t(gt)[None])[0])
    assert aligned > plain + 10
    # border: pixels whose source falls outside the restored image are masked out (x shift of 2.5 px)
    assert cr[:, -1].max() == 0 and cr[h // 2, w // 2].min() == 1 and 0.9 < cr.mean() < 1
    assert np.all(xr[cr == 0] == 0) and np.all(zr[cr == 0] == 0)


def test_realblur_masked_ssim_matches_skimage_without_warp():
    from skimage.metrics import structural_similarity

    x = _texture(seed=2)
    z = np.clip(x + np.random.default_rng(3).normal(0, 0.03, x.shape), 0, 1).astype(np.float32)
    z = np.round(z * 255) / 255
    x = np.round(x * 255) / 255
    _, s = realblur_psnr_ssim(_t(z), _t(x))
    _, smap = structural_similarity(x, z, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=1.0, full=True)
    assert s == pytest.approx(float(smap[5:-5, 5:-5].mean()), abs=2e-3)


def test_integer_shift_and_kohler_best_frame():
    x = _texture(64, 80, seed=4)
    shifted = np.roll(x, (3, -5), axis=(0, 1))
    assert integer_shift(shifted.mean(2), x.mean(2)) == (3, -5)
    truth = _t(x)
    frames = torch.stack([_t(_texture(64, 80, seed=10 + i)) for i in range(4)])
    frames[2] = truth
    restored = _t(np.roll(x, (2, 1), axis=(0, 1)) * 0.8)  # shifted and darker: registration + scaling undo it
    out = kohler_psnr(restored, frames)
    assert out["frame"] == 2.0 and out["psnr"] > 40
    assert float(psnr(restored[None], truth[None])[0]) < 25
    metric = KohlerPSNR()
    metric.update(restored[None], frames[None])
    assert float(metric.compute()) == pytest.approx(out["psnr"])


def _ssim3d_reference(x: np.ndarray, y: np.ndarray) -> float:
    """MATLAB ssim on an H×W×3 double volume, written directly with scipy (imgaussfilt3, replicate padding)."""
    from scipy.ndimage import gaussian_filter

    def g(a):
        return gaussian_filter(a, sigma=1.5, mode="nearest", truncate=5 / 1.5)  # 11 taps, replicate

    c1, c2 = 0.01**2, 0.03**2
    mx, my = g(x), g(y)
    sxx, syy, sxy = g(x * x) - mx**2, g(y * y) - my**2, g(x * y) - mx * my
    return float((((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))).mean())


def test_ssim_matlab3d_matches_direct_reference():
    x = _texture(40, 48, seed=5)
    y = np.clip(x + np.random.default_rng(6).normal(0, 0.05, x.shape), 0, 1)
    xq, yq = np.round(x * 255) / 255, np.round(y * 255) / 255
    got = float(ssim_matlab3d(_t(y.astype(np.float32))[None], _t(x)[None])[0])
    assert got == pytest.approx(_ssim3d_reference(yq.astype(np.float64), xq.astype(np.float64)), abs=1e-6)
    per_channel = float(ssim(_t(y.astype(np.float32))[None], _t(x)[None])[0])
    assert abs(got - per_channel) > 1e-3  # a different convention, not an alias
    m = SSIM3D()
    m.update(_t(x)[None], _t(x)[None])
    assert float(m.compute()) == pytest.approx(1.0)


def test_epe_on_known_flow(tmp_path):
    gt = torch.randn(2, 2, 8, 10)
    pred = gt.clone()
    pred[:, 0] += 3
    pred[:, 1] -= 4
    assert torch.allclose(epe(pred, gt), torch.full((2,), 5.0, dtype=torch.float64))
    valid = torch.zeros(2, 8, 10)
    valid[:, :4] = 1
    pred[:, :, 4:] += 100  # errors outside the valid region do not count
    assert torch.allclose(epe(pred, gt, valid), torch.full((2,), 5.0, dtype=torch.float64))
    m = EPE()
    m.update(pred[:, :, :4], gt[:, :, :4])
    assert float(m.compute()) == pytest.approx(5.0) and EPE.higher_is_better is False
    write_flo(tmp_path / "a.flo", gt[0])
    assert torch.equal(read_flo(tmp_path / "a.flo"), gt[0])


def test_realblur_metric_class():
    x = _t(_texture(seed=7))
    m = RealBlurECC("psnr")
    m.update(x[None], x[None])
    assert float(m.compute()) == 100.0
    with pytest.raises(ValueError):
        RealBlurECC("lpips")
