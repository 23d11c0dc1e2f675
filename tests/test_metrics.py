import numpy as np
import pytest
import skimage.data
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from blurbench.metrics import PSNR, SSIM, psnr, ssim


def _pair(seed: int = 0, noise: float = 0.08):
    g = torch.Generator().manual_seed(seed)
    a = torch.from_numpy(skimage.data.astronaut()[100:164, 200:280].astype(np.float32) / 255).permute(2, 0, 1)
    b = (a + noise * torch.randn(a.shape, generator=g)).clamp(0, 1)
    return a[None], b[None]


def _u8(x: torch.Tensor) -> np.ndarray:
    return ((x[0].permute(1, 2, 0).numpy() * 255).round()).astype(np.uint8)


def test_psnr_matches_skimage_on_uint8_images():
    a, b = _pair()
    ours = psnr(b, a).item()
    ref = peak_signal_noise_ratio(_u8(a), _u8(b), data_range=255)
    assert ours == pytest.approx(ref, abs=1e-9)


def test_ssim_matches_skimage_gaussian_convention():
    a, b = _pair(noise=0.05)
    ours = ssim(b, a).item()
    ref = structural_similarity(_u8(a).astype(np.float64) / 255, _u8(b).astype(np.float64) / 255,
                                gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0,
                                channel_axis=2)
    assert ours == pytest.approx(ref, abs=1e-7)


def test_quantisation_is_applied():
    a = torch.full((1, 3, 16, 16), 0.5)
    b = a + 0.001  # below half a grey level: identical once rounded to uint8
    assert psnr(a, b).item() == pytest.approx(100.0)
    assert psnr(a, b, quantize=False).item() == pytest.approx(60.0, abs=1e-3)


def test_per_image_values_and_class_mean():
    a1, b1 = _pair(1)
    a2, b2 = _pair(2, noise=0.2)
    both = psnr(torch.cat([b1, b2]), torch.cat([a1, a2]))
    assert both.shape == (2,)
    metric = PSNR()
    metric.update(b1, a1)
    metric.update(b2, a2)
    # mean of per-image PSNRs, not the PSNR of the pooled MSE
    assert metric.compute().item() == pytest.approx(both.mean().item())
    s = SSIM()
    s.update(torch.cat([b1, b2]), torch.cat([a1, a2]))
    assert s.compute().item() == pytest.approx(ssim(torch.cat([b1, b2]), torch.cat([a1, a2])).mean().item())


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))


@pytest.mark.parametrize("crop_border", [0, 3])
def test_large_images_scored_in_strips_give_the_same_values(monkeypatch, crop_border):
    """Above STRIP_ABOVE pixels PSNR and SSIM are summed over row strips (bounded memory): same values up to the
    order of the final sum, strip boundaries and an odd last strip included."""
    from blurbench.metrics import image

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 301, 45, generator=g), torch.rand(2, 3, 301, 45, generator=g)
    whole = psnr(a, b, crop_border=crop_border), ssim(a, b, crop_border=crop_border)
    monkeypatch.setattr(image, "STRIP_ABOVE", 1000)
    monkeypatch.setattr(image, "STRIP_ROWS", 16)
    strips = psnr(a, b, crop_border=crop_border), ssim(a, b, crop_border=crop_border)
    for w, s in zip(whole, strips):
        torch.testing.assert_close(s, w, rtol=1e-13, atol=0)
