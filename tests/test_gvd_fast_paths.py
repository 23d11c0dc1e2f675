"""GVD's fast paths match the reference paths: the frame-by-frame tap renderers and image-by-image sampling (in row
bands on the CPU's threads) give the same values as the batched calls, OpenCV's median the same as the sort, the flow
primal-dual and the defocus blur in row bands the same as on the whole image (bit for bit: same per-pixel
arithmetic), and so does the whole solver."""

from dataclasses import replace

import numpy as np
import pytest
import skimage.data
import torch

from blurbench.ops.gvd import defocus, flow, operators
from blurbench.ops.gvd.energy import temporal_links
from blurbench.ops.gvd.flow import central_grad
from blurbench.ops.gvd.kernels import (
    render_motion_blur,
    render_motion_blur_adjoint,
    render_motion_blur_jacobian,
    render_motion_blur_side,
)
from blurbench.ops.gvd.solver import GVDConfig, deblur_window
from blurbench.ops.video_synthesis import make_blurry_clip


def _paths(monkeypatch, fast: bool) -> None:
    """Fast: every batch goes frame by frame / image by image, the flow primal-dual and the defocus blur in bands of
    one row; reference: one batched call, the whole image at once."""
    big = 1 << 62
    monkeypatch.setattr(operators, "BY_IMAGE_MIN", 0 if fast else big)
    # 3 bands: rows that do not divide evenly leave a remainder band
    monkeypatch.setattr(operators, "_row_parts", (lambda grid: 3) if fast else (lambda grid: 1))
    monkeypatch.setattr(flow, "PD_BAND_VALUES", 1 if fast else None)
    monkeypatch.setattr(defocus, "BAND_VALUES", 1 if fast else big)


def _inputs(t=3, c=3, h=23, w=31, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(t, c, h, w, generator=g)
    smooth = torch.nn.functional.interpolate(torch.randn(t, 2, 3, 4, generator=g), size=(h, w), mode="bilinear",
                                             align_corners=False)
    fw = 3.0 * smooth + 0.5 * torch.randn(t, 2, h, w, generator=g)
    bw = -2.0 * smooth + 0.5 * torch.randn(t, 2, h, w, generator=g)
    tau = torch.tensor([0.5, 0.8, 1.0])[:t]
    return x, fw, bw, tau


def _outputs(x, fw, bw, tau):
    gx, gy = central_grad(x)
    kx = render_motion_blur(x, fw, bw, tau, 4)
    out = [kx, render_motion_blur_adjoint(x, fw, bw, tau, 4)]
    out += [render_motion_blur_side(x, fw, tau, 4, "fw"), render_motion_blur_side(x, bw, tau, 4, "bw")]
    for side in ("fw", "bw"):
        out += list(render_motion_blur_jacobian(x, gx, gy, fw, bw, tau, 4, side))
        out += list(render_motion_blur_jacobian(x, gx, gy, fw, bw, tau, 4, side, kx=kx))
    links = temporal_links(fw, bw, 2, occlusion=True)
    res = links.apply(x)
    out += list(links.flow.values()) + list(links.mask.values()) + list(res.values()) + [links.adjoint(res, x)]
    return out


def test_frame_by_frame_renderers_and_sampling_match_the_batched_ones(monkeypatch):
    x, fw, bw, tau = _inputs()
    _paths(monkeypatch, fast=False)
    ref = _outputs(x, fw, bw, tau)
    _paths(monkeypatch, fast=True)
    fast = _outputs(x, fw, bw, tau)
    assert len(ref) == len(fast)
    for a, b in zip(ref, fast):
        assert a.shape == b.shape and a.dtype == b.dtype
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6)
    # a scalar duty cycle goes through the same split
    _paths(monkeypatch, fast=True)
    scalar = render_motion_blur(x, fw, bw, 0.7, 3)
    _paths(monkeypatch, fast=False)
    torch.testing.assert_close(scalar, render_motion_blur(x, fw, bw, 0.7, 3), rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_clip():
    return make_blurry_clip(skimage.data.astronaut(), np.random.default_rng(3), n_frames=3, k=5, size=(40, 48),
                            camera_speed=(1.0, 3.0), object_speed=(1.5, 4.0))


def test_solver_output_matches_the_reference_path(monkeypatch, tiny_clip):
    cfg = replace(GVDConfig(), levels=2, flow_warps=1, flow_pd_iters=10, sigma_warps=1, sigma_pd_iters=5,
                  latent_pd_iters=2, latent_cg_iters=2)
    frames, tau = tiny_clip["blurry"], tiny_clip["tau"]
    flows = (tiny_clip["flow_fw"], tiny_clip["flow_bw"])
    results = []
    for fast in (False, True):
        _paths(monkeypatch, fast)
        out, aux = deblur_window(frames, cfg, tau, flows)
        results.append((out, aux["flow_fw"], aux["flow_bw"], aux["sigma"]))
    for a, b in zip(*results):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5)


def _pd_inputs(t=4, h=29, w=37, c=1, seed=1):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.rand(*s, generator=g)  # noqa: E731
    hxx, hyy = 50 * r(t, 1, h, w), 50 * r(t, 1, h, w)
    hxy = 1.8 * (r(t, 1, h, w) - 0.5) * (hxx * hyy).sqrt()  # keeps each pixel's 2×2 system positive definite
    temporal = []
    for n in (1, 2):
        p = t - n
        temporal.append((torch.arange(p), 0.2 * (r(p, c, h, w) - 0.5), 0.3 * (r(p, c, h, w) - 0.5),
                         0.3 * (r(p, c, h, w) - 0.5), (r(p, 1, h, w) > 0.2).float(), slice(0, p)))
    return (3 * r(t, 2, h, w) - 1.5, hxx, hxy, hyy, 10 * (r(t, 1, h, w) - 0.5), 10 * (r(t, 1, h, w) - 0.5), temporal,
            r(t, 1, h, w).clamp_min(1e-3), r(t, 1, h, w).clamp_min(1e-3))


@pytest.mark.parametrize("c", [1, 3])
def test_flow_primal_dual_in_row_bands_matches_the_whole_image(monkeypatch, c):
    args = _pd_inputs(c=c)
    monkeypatch.setattr(flow, "PD_BAND_VALUES", None)
    ref = flow._linearised_pd(*args, 2.0, 250.0, 8, 1e-2)
    assert torch.isfinite(ref).all() and not torch.equal(ref, args[0])
    for rows in (1, 3, 28):  # one row, bands that do not divide the height, a last band of one row
        monkeypatch.setattr(flow, "_band_rows", lambda u0, rows=rows: rows)  # also below the size threshold
        torch.testing.assert_close(flow._linearised_pd(*args, 2.0, 250.0, 8, 1e-2), ref, rtol=0, atol=0)


def test_defocus_in_row_bands_matches_the_whole_image(monkeypatch):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(3, 2, 23, 37, generator=g)
    sigma = 1.4 * torch.rand(3, 1, 23, 37, generator=g)  # radius 5: bands thinner than the support
    op = defocus.DefocusBlur(sigma)

    def outputs():
        frame = op.frame(2)
        return [op.A(x), op.A_adjoint(x), frame.A(x[2:]), frame.A_adjoint(x[2:]),
                defocus.defocus_blur_dsigma(x, sigma), defocus.defocus_blur_adjoint(x, sigma)]

    monkeypatch.setattr(defocus, "BAND_VALUES", 1 << 40)
    ref = outputs()
    for values in (1, 3 * 2 * 37, 5 * 2 * 45):  # bands of one row, of 3 rows, of 5 rows of the padded output
        monkeypatch.setattr(defocus, "BAND_VALUES", values)
        for a, b in zip(ref, outputs()):
            torch.testing.assert_close(b, a, rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(3, 2, 29, 37), (1, 1, 2, 3), (2, 1, 5, 1)])
@pytest.mark.parametrize("size", [3, 5])
def test_opencv_median_matches_the_sorted_patches(shape, size):
    g = torch.Generator().manual_seed(sum(shape) + size)
    x = torch.randn(*shape, generator=g).round(decimals=1)  # ties too
    x = x.transpose(-1, -2).contiguous().transpose(-1, -2)  # a non-contiguous frame
    assert torch.equal(flow.median_filter(x, size), flow._median_unfold(x, size))
