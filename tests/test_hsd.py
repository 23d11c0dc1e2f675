"""HSD deblurring with a denoiser prior, the classical denoisers, and the field-deblurring methods."""

import numpy as np
import pytest
import skimage.data
import torch

from blurbench.metrics import psnr
from blurbench.ops.denoisers import BilateralDenoiser, TVDenoiser, bilateral_denoise, tv_denoise
from blurbench.ops.hsd import (
    denoiser_calls,
    hsd_deblur,
    reblur_objective,
    saturate,
    saturate_derivative,
    sigma_schedule,
)
from blurbench.ops.reblur import BlurField, reblur


def _problem(noise: float = 0.002):
    """A 96x96 crop blurred by two 9-tap motion kernels mixed by a ramp (as in test_deconvolution)."""
    g = torch.Generator().manual_seed(0)
    sharp = torch.from_numpy(skimage.data.chelsea()[60:156, 150:246].astype(np.float32) / 255).permute(2, 0, 1)[None]
    k = 9
    kernels = torch.zeros(1, 2, k, k)
    kernels[0, 0, k // 2, :] = 1.0 / k
    kernels[0, 1, :, k // 2] = 1.0 / k
    ramp = torch.linspace(0, 1, sharp.shape[-1]).expand(sharp.shape[-2], -1)
    mixing = torch.stack([ramp, 1 - ramp])[None]
    blurry = reblur(sharp, kernels, mixing) + noise * torch.randn(sharp.shape, generator=g)
    return sharp, blurry.clamp(0, 1), kernels, mixing


# ------------------------------------------------------------------------------------------- schedule
def test_sigma_schedule_is_the_official_one():
    s = sigma_schedule()  # 15 stages, 49 -> 7.65 (/255), halved
    assert s.shape == (15,)
    assert s[0].item() * 255 == pytest.approx(24.5, rel=1e-5)
    assert s[-1].item() * 255 == pytest.approx(3.825, rel=1e-5)
    ratios = s[1:] / s[:-1]
    assert torch.allclose(ratios, ratios[0].expand_as(ratios), rtol=1e-5)  # log-spaced: sigma^2 decays exponentially


def test_denoiser_runs_every_second_iteration_with_the_next_sigma():
    assert denoiser_calls(30, 15) == {2 * j + 1: j for j in range(15)}
    calls = denoiser_calls(30, 7)  # period 5: iterations 5, 10, ..., 30 and always the last one
    assert list(calls) == [4, 9, 14, 19, 24, 29] and calls[29] == 5
    assert denoiser_calls(1, 15) == {0: 0}


# ------------------------------------------------------------------------------------------ denoisers
@pytest.mark.parametrize("iterations", [1, 4])
def test_tv_denoise_matches_scikit_image_chambolle(iterations):
    from skimage.restoration import denoise_tv_chambolle

    rng = np.random.default_rng(0)
    x = rng.random((20, 24, 3))
    ours = tv_denoise(torch.from_numpy(x.transpose(2, 0, 1))[None], 0.1, iterations, vectorial=False)
    # scikit-image returns the primal iterate computed *before* its last dual update
    ref = denoise_tv_chambolle(x, weight=0.1, max_num_iter=iterations + 1, eps=0, channel_axis=-1)
    np.testing.assert_allclose(ours[0].numpy().transpose(1, 2, 0), ref, atol=1e-12)


def _rof(u, x, lam):
    from blurbench.ops.finite_differences import grad

    gx, gy = grad(u)
    return 0.5 * (u - x).pow(2).sum() + lam * (gx.pow(2) + gy.pow(2)).sum(1).sqrt().sum()


def test_tv_denoise_lowers_the_rof_energy_and_removes_noise():
    sharp = _problem()[0].double()
    noisy = sharp + 0.05 * torch.randn(sharp.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    u = tv_denoise(noisy, 0.05, 30)
    assert _rof(u, noisy, 0.05) < 0.7 * _rof(noisy, noisy, 0.05)
    assert _rof(u, noisy, 0.05) < _rof(tv_denoise(noisy, 0.05, 5), noisy, 0.05)  # converging
    assert psnr(u.clamp(0, 1), sharp).item() > psnr(noisy.clamp(0, 1), sharp).item() + 3
    # per-image weights: the second image, denoised with a 10x smaller weight, moves less
    both = tv_denoise(torch.cat([noisy, noisy]), torch.tensor([0.05, 0.005]), 20)
    assert (both[1] - noisy[0]).abs().mean() < 0.5 * (both[0] - noisy[0]).abs().mean()


def test_bilateral_keeps_constants_and_smooths_noise():
    flat = torch.full((1, 3, 32, 32), 0.4)
    assert torch.allclose(bilateral_denoise(flat, 0.1), flat, atol=1e-6)
    noisy = flat + 0.02 * torch.randn(flat.shape, generator=torch.Generator().manual_seed(1))
    assert (BilateralDenoiser(color_scale=2.0)(noisy, 0.02) - flat).std() < 0.75 * (noisy - flat).std()
    with pytest.raises(ValueError, match="one value per image"):
        TVDenoiser()(torch.zeros(2, 3, 8, 8), torch.tensor([0.1, 0.2, 0.3]))


# ------------------------------------------------------------------------------------------------ HSD
def test_saturation_derivative_matches_autograd():
    v = torch.linspace(-0.2, 1.6, 181, dtype=torch.float64).requires_grad_(True)
    saturate(v).sum().backward()
    keep = (v - 1.5).abs() > 1e-6  # the kink at the clamp
    torch.testing.assert_close(saturate_derivative(v.detach())[keep], v.grad[keep])
    assert saturate(torch.tensor([0.5])).item() == pytest.approx(0.5, abs=1e-4)  # linear well below 1
    assert saturate(torch.tensor([3.0])).item() <= 1.0


def test_one_hsd_step_is_a_gradient_step_on_the_saturated_objective():
    _, blurry, kernels, mixing = _problem()
    blurry = blurry.double() * 1.1  # some pixels above 1 exercise the saturation
    kernels, mixing = kernels.double(), mixing.double()
    seen = []
    hsd_deblur(blurry, BlurField(kernels, mixing, "valid"), lambda x, s: x, iterations=1, alpha=0.0,
               callback=lambda it, x: seen.append(x))
    x0 = torch.nn.functional.pad(blurry, (4, 4, 4, 4), mode="reflect").requires_grad_(True)
    loss = 0.5 * (saturate(reblur(x0, kernels, mixing, "valid")) - blurry).pow(2).sum()
    loss.backward()
    torch.testing.assert_close(seen[0], x0.detach() - (2 / 3) * x0.grad)


def test_hsd_without_prior_descends_monotonically():
    _, blurry, kernels, mixing = _problem()
    values = []

    def record(it, x):
        values.append(((reblur(x, kernels, mixing, "valid") - blurry).pow(2).sum()).item())

    hsd_deblur(blurry, BlurField(kernels, mixing, "valid"), lambda x, s: x, iterations=15, alpha=0.0,
               saturation=False, callback=record)
    assert all(b <= a * (1 + 1e-6) for a, b in zip(values, values[1:]))
    assert values[-1] < 0.3 * values[0]


@pytest.mark.parametrize("denoiser", [TVDenoiser(scale=0.25, iterations=5), BilateralDenoiser()],
                         ids=["tv", "bilateral"])
def test_hsd_lowers_the_reblur_objective_and_improves_psnr(denoiser):
    sharp, blurry, kernels, mixing = _problem()
    out = hsd_deblur(blurry, BlurField(kernels, mixing, "valid"), denoiser, iterations=30)
    assert out.shape == blurry.shape
    before = reblur_objective(blurry, blurry, BlurField(kernels, mixing)).item()
    assert reblur_objective(out, blurry, BlurField(kernels, mixing)).item() < 0.5 * before
    assert psnr(out.clamp(0, 1), sharp).item() > psnr(blurry, sharp).item() + 2.0


def test_hsd_rejects_bad_arguments():
    _, blurry, kernels, mixing = _problem()
    with pytest.raises(ValueError, match="alpha"):
        hsd_deblur(blurry, BlurField(kernels, mixing, "valid"), TVDenoiser(), alpha=1.5)
    with pytest.raises(ValueError, match="too small"):
        hsd_deblur(blurry[..., :4, :4], BlurField(kernels, mixing[..., :4, :4], "valid"), TVDenoiser())
    with pytest.raises(ValueError, match="'valid' BlurField"):
        hsd_deblur(blurry, BlurField(kernels, mixing), TVDenoiser())


# ------------------------------------------------------------------------------------------- methods
@pytest.mark.slow
def test_registered_oracle_hsd_improves_psnr_on_the_builtin_suite():
    from blurbench.datamodules import builtin
    from blurbench.datamodules.base import collate
    from blurbench.datamodules.builtin import BuiltinImageDataModule
    from blurbench.tasks.registry import get_method

    builtin.prepare("motion-noisy")
    ds = BuiltinImageDataModule("motion-noisy").build_test_dataset()
    method = get_method("hsd-tv-oracle").build()
    for i in (0, 2):  # astronaut, chelsea
        batch = collate([ds[i]])
        restored = method.restore(batch).clamp(0, 1)
        assert psnr(restored, batch["sharp"]).item() > psnr(batch["blurry"], batch["sharp"]).item() + 1.5
        field = BlurField(batch["kernels"], batch["mixing"])
        assert reblur_objective(restored, batch["blurry"], field).item() < reblur_objective(
            batch["blurry"], batch["blurry"], field).item()


@pytest.mark.parametrize("solver", ["rl", "tv", "hsd"])
def test_estimated_field_deblurring_runs_with_a_random_network(solver):
    from blurbench.errors import DataError
    from blurbench.tasks.deblur import FieldDeblurring

    _, blurry, _, _ = _problem()
    task = FieldDeblurring(field="blurfield-small", solver=solver, iterations=2, solver_args={"stages": 1}
                           if solver == "hsd" else None, pretrained=False)
    out = task.restore({"id": ["x"], "blurry": blurry[..., :64, :64]})
    assert out.shape == (1, 3, 64, 64) and torch.isfinite(out).all()
    with pytest.raises(DataError, match="no ground-truth blur field"):
        FieldDeblurring(field="oracle").restore({"id": ["x"], "blurry": blurry})


def test_hsd_with_drunet_wires_the_zoo_denoiser():
    from blurbench.tasks.deblur import FieldDeblurring
    from blurbench.zoo.drunet import DRUNet

    sharp, blurry, kernels, mixing = _problem()
    task = FieldDeblurring(field="oracle", solver="hsd", iterations=2, solver_args={"stages": 1}, denoiser="drunet",
                           pretrained=False)  # random weights: the official architecture, no download
    assert isinstance(task.denoiser, DRUNet)
    batch = {"id": ["x"], "blurry": blurry[..., :40, :40], "kernels": kernels, "mixing": mixing[..., :40, :40]}
    out = task.restore(batch)
    assert out.shape == (1, 3, 40, 40) and torch.isfinite(out).all()


def test_hsd_denoiser_from_a_converted_directory(tmp_path):
    """A denoiser may be any model source (here a small DRUNet written in our format): how an @FILE.yaml method
    points HSD at weights other than the zoo's drunet-color (bench_predict_memory.py --random-weights does)."""
    from blurbench.tasks.deblur import FieldDeblurring
    from blurbench.zoo.drunet import DRUNet
    from blurbench.zoo.hub import save_local

    torch.manual_seed(0)
    save_local(DRUNet(nc=(4, 8, 16, 32), nb=1), tmp_path / "tiny", {"name": "tiny", "arch": "DRUNet",
                                                                   "ctor_args": {"nc": [4, 8, 16, 32], "nb": 1}})
    sharp, blurry, kernels, mixing = _problem()
    task = FieldDeblurring(field="oracle", solver="hsd", iterations=2, solver_args={"stages": 1},
                           denoiser=str(tmp_path / "tiny"))
    assert isinstance(task.denoiser, DRUNet) and task.denoiser.weights_sha256
    batch = {"id": ["x"], "blurry": blurry[..., :40, :40], "kernels": kernels, "mixing": mixing[..., :40, :40]}
    assert torch.isfinite(task.restore(batch)).all()
    from blurbench.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown denoiser .nope."):
        FieldDeblurring(field="oracle", solver="hsd", denoiser="nope")
