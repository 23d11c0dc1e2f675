import numpy as np
import pytest
import skimage.data
import torch

from blurbench.metrics import psnr
from blurbench.ops.deconvolution import richardson_lucy, tv_deconvolution
from blurbench.ops.finite_differences import div, grad, grad_adjoint
from blurbench.ops.reblur import BlurField, reblur


def _problem():
    g = torch.Generator().manual_seed(0)
    sharp = torch.from_numpy(skimage.data.chelsea()[60:156, 150:246].astype(np.float32) / 255).permute(2, 0, 1)[None]
    k = 9
    kernels = torch.zeros(1, 2, k, k)
    kernels[0, 0, k // 2, :] = 1.0 / k          # horizontal motion
    kernels[0, 1, :, k // 2] = 1.0 / k          # vertical motion
    ramp = torch.linspace(0, 1, sharp.shape[-1]).expand(sharp.shape[-2], -1)
    mixing = torch.stack([ramp, 1 - ramp])[None]
    blurry = reblur(sharp, kernels, mixing) + 0.002 * torch.randn(sharp.shape, generator=g)
    return sharp, blurry.clamp(0, 1), kernels, mixing


def _objective(u, blurry, kernels, mixing):
    return (reblur(u, kernels, mixing) - blurry).pow(2).sum().item()


@pytest.mark.parametrize("solver", ["rl", "tv"])
def test_solvers_lower_the_reblur_objective_and_improve_psnr(solver):
    sharp, blurry, kernels, mixing = _problem()
    if solver == "rl":
        out = richardson_lucy(blurry, BlurField(kernels, mixing), iterations=30)
    else:
        out = tv_deconvolution(blurry, BlurField(kernels, mixing), weight=0.002, iterations=150)
    assert _objective(out, blurry, kernels, mixing) < 0.5 * _objective(blurry, blurry, kernels, mixing)
    assert psnr(out, sharp).item() > psnr(blurry, sharp).item() + 2.0


def test_grad_adjoint_and_divergence():
    g = torch.Generator().manual_seed(1)
    u = torch.randn(2, 3, 13, 17, generator=g, dtype=torch.float64)
    px, py = torch.randn(2, 2, 3, 13, 17, generator=g, dtype=torch.float64).unbind(1)
    gx, gy = grad(u)
    lhs = (gx * px + gy * py).sum().item()
    assert lhs == pytest.approx((u * grad_adjoint(px, py)).sum().item(), rel=1e-12)
    assert lhs == pytest.approx(-(u * div(px, py)).sum().item(), rel=1e-12)
    assert (gx[..., -1] == 0).all() and (gy[..., -1, :] == 0).all()  # Neumann: nothing leaves the image
