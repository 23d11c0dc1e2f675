"""The GVD solver's parts: exact adjoints of its operators, derivatives, and each sub-solver lowering its energy."""

import numpy as np
import pytest
import skimage.data
import torch

from blurbench.ops.gvd.defocus import defocus_blur, defocus_blur_adjoint, defocus_blur_dsigma
from blurbench.ops.gvd.energy import BlurOperator, data_channels, data_channels_adjoint, temporal_links
from blurbench.ops.gvd.flow import FlowProblem, central_grad, flow_energy, flow_step
from blurbench.ops.gvd.kernels import (
    MotionBlur,
    render_motion_blur,
    render_motion_blur_adjoint,
    render_motion_blur_jacobian,
    render_motion_blur_side,
)
from blurbench.ops.gvd.latent import latent_energy, latent_step
from blurbench.ops.gvd.operators import warp, warp_adjoint
from blurbench.ops.gvd.pyramid import pyramid_shapes
from blurbench.ops.gvd.sigma import sigma_energy, sigma_step
from blurbench.ops.gvd.solver import GVDConfig, _window_plan, deblur_window, luminance
from blurbench.ops.video_synthesis import make_blurry_clip

D = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _flows(t, h, w, seed, scale=3.0):
    """Random flows with large, smooth and non-smooth parts, some pointing out of the image."""
    g = _gen(seed)
    smooth = torch.nn.functional.interpolate(torch.randn(t, 2, 3, 4, generator=g, dtype=D), size=(h, w),
                                             mode="bilinear", align_corners=False)
    return scale * smooth + 0.5 * torch.randn(t, 2, h, w, generator=g, dtype=D)


def _dot(a, b):
    return float((a * b).sum())


@pytest.mark.parametrize("half_taps", [0, 1, 4])
def test_motion_blur_adjoint_and_assembled_matrix(half_taps):
    t, c, h, w = 3, 2, 13, 17
    g = _gen(1)
    x, y = torch.randn(t, c, h, w, generator=g, dtype=D), torch.randn(t, c, h, w, generator=g, dtype=D)
    fw, bw = _flows(t, h, w, 2), _flows(t, h, w, 3)
    tau = torch.tensor([0.4, 0.8, 1.0], dtype=D)  # per-frame duty cycles
    kx = render_motion_blur(x, fw, bw, tau, half_taps)
    kty = render_motion_blur_adjoint(y, fw, bw, tau, half_taps)
    lhs, rhs = _dot(kx, y), _dot(x, kty)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))
    # the kernel sums to one: a constant image stays constant (clamped borders)
    assert torch.allclose(render_motion_blur(torch.ones_like(x), fw, bw, tau, half_taps), torch.ones_like(x))
    # the sparse assembled operator is the same operator, its transpose the same adjoint
    mb = MotionBlur(fw, bw, tau, half_taps, adjoint=True)
    assert torch.allclose(mb.A(x), kx, atol=1e-12)
    assert torch.allclose(mb.A_adjoint(y), kty, atol=1e-12)


@pytest.mark.parametrize("channels", [1, 3, 9])
def test_every_cpu_adjoint_path_is_the_transpose(monkeypatch, channels):
    """Scipy's product channel by channel, serial and on threads (bit for bit the same), is the sorted transpose's."""
    import blurbench.ops.gvd.kernels as kernels

    t, h, w = 2, 11, 14
    g = _gen(7)
    fw, bw = _flows(t, h, w, 8), _flows(t, h, w, 9)
    mb = MotionBlur(fw.float(), bw.float(), torch.tensor([0.6, 1.0]), 3)
    v = torch.randn(t, channels, h, w, generator=g)
    # the reference: the transpose built by the sort (the non-scipy path)
    ref = torch.stack([kernels._transposed_product(mb._fwd[f], v[f].reshape(channels, h * w), [None], 0, False)
                       .reshape(channels, h, w) for f in range(t)])
    serial = mb.A_adjoint(v)
    torch.testing.assert_close(serial, ref, rtol=0, atol=1e-5)
    monkeypatch.setattr(kernels, "_SPLIT_ROWS", 0)  # these small frames take the threaded path
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert torch.equal(mb.A_adjoint(v), serial)
    assert torch.equal(mb.frame(1).A_adjoint(v[1:]), mb.A_adjoint(v)[1:])


def test_motion_blur_chunked_assembly_equals_whole_and_merges_entries():
    """Row-chunked assembly (bounded memory) gives exactly the one-chunk matrices; both are the rendered operator."""
    t, c, h, w, n = 2, 3, 11, 19, 4
    g = _gen(11)
    x, y = torch.randn(t, c, h, w, generator=g, dtype=D), torch.randn(t, c, h, w, generator=g, dtype=D)
    fw, bw = _flows(t, h, w, 12, scale=2.0), _flows(t, h, w, 13, scale=2.0)
    tau = torch.tensor([0.5, 1.0], dtype=D)
    whole = MotionBlur(fw, bw, tau, n, moments=True, chunk_entries=10**9)
    chunked = MotionBlur(fw, bw, tau, n, moments=True, chunk_entries=4 * (2 * n + 1) * 5)  # 5 rows, 209 = 41·5 + 4
    assert chunked._rows == 5 and whole._rows >= h * w
    pairs = list(zip(whole._fwd, chunked._fwd)) + [p for a, b in zip(whole._mom, chunked._mom) for p in zip(a, b)]
    for a, b in pairs:
        assert torch.equal(a.crow_indices(), b.crow_indices()) and torch.equal(a.col_indices(), b.col_indices())
        assert torch.equal(a.values(), b.values())
    # entries hitting the same pixel are merged: short flows => far fewer than 4 per tap
    assert whole._fwd[0].values().numel() < 0.8 * h * w * 4 * (2 * n + 1)
    kx = render_motion_blur(x, fw, bw, tau, n)
    kty = render_motion_blur_adjoint(y, fw, bw, tau, n)
    for mb in (whole, chunked):
        assert torch.allclose(mb.A(x), kx, atol=1e-12)
        assert torch.allclose(mb.A_adjoint(y), kty, atol=1e-12)
    # the sort-built, cached transpose (the path off the CPU) is the same adjoint
    chunked._scipy = False
    assert torch.allclose(chunked.A_adjoint(y), kty, atol=1e-12) and all(m is not None for m in chunked._adj)
    # the moment operators are the per-pixel flow derivatives of the rendering
    gx, gy = central_grad(x)
    for side in ("fw", "bw"):
        kx, jx, jy = render_motion_blur_jacobian(x, gx, gy, fw, bw, tau, n, side)
        assert torch.allclose(chunked.moment(gx, side), jx, atol=1e-12)
        assert torch.allclose(chunked.moment(gy, side), jy, atol=1e-12)
        assert torch.allclose(kx, render_motion_blur(x, fw, bw, tau, n), atol=1e-12)
        # given K x (the flow solver passes the rendering of its last energy), only the derivatives are rendered
        known = render_motion_blur(x, fw, bw, tau, n)
        kx2, jx2, jy2 = render_motion_blur_jacobian(x, gx, gy, fw, bw, tau, n, side, kx=known)
        assert kx2 is known and torch.equal(jx2, jx) and torch.equal(jy2, jy)


def test_motion_blur_is_a_segment_along_the_flow():
    """A single bright pixel under a constant horizontal flow spreads evenly over τ·|u| px, centred on it."""
    h, w = 9, 31
    x = torch.zeros(1, 1, h, w, dtype=D)
    x[0, 0, 4, 15] = 1.0
    fw = torch.zeros(1, 2, h, w, dtype=D)
    fw[:, 0] = 10.0
    bw = -fw
    out = render_motion_blur(x, fw, bw, 0.7, 3)  # 7 taps, 1 px apart: t_j = j·0.1, displacement j px
    row = out[0, 0, 4]
    assert torch.allclose(row[12:19], torch.full((7,), 1 / 7, dtype=D))
    assert float(row.sum()) == pytest.approx(1.0) and float(out[0, 0].sum()) == pytest.approx(1.0)


@pytest.mark.parametrize("radius", [None, 4])
def test_defocus_adjoint_and_sigma_derivative(radius):
    t, c, h, w = 2, 3, 12, 15
    g = _gen(4)
    x, y = torch.randn(t, c, h, w, generator=g, dtype=D), torch.randn(t, c, h, w, generator=g, dtype=D)
    sigma = 1.4 * torch.rand(t, 1, h, w, generator=g, dtype=D)
    sigma[0, 0, :3] = 0.0  # σ = 0 is the identity
    lhs = _dot(defocus_blur(x, sigma, radius), y)
    rhs = _dot(x, defocus_blur_adjoint(y, sigma, radius))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))
    assert torch.allclose(defocus_blur(x, sigma, radius)[0, :, :3], x[0, :, :3], atol=1e-9)
    assert torch.allclose(defocus_blur(torch.ones_like(x), sigma, radius), torch.ones_like(x))
    # per-pixel derivative w.r.t. σ against central differences
    s0 = sigma.clamp_min(0.3)
    eps = 1e-5
    fd = (defocus_blur(x, s0 + eps, radius or 5) - defocus_blur(x, s0 - eps, radius or 5)) / (2 * eps)
    assert torch.allclose(defocus_blur_dsigma(x, s0, radius or 5), fd, atol=1e-6)


def test_other_linear_operators_are_adjoint():
    t, c, h, w = 4, 2, 11, 14
    g = _gen(5)
    x = torch.randn(t, c, h, w, generator=g, dtype=D)
    fw, bw = _flows(t, h, w, 6), _flows(t, h, w, 7)
    # backward warp / forward splat
    y = torch.randn(t, c, h, w, generator=g, dtype=D)
    assert _dot(warp(x, fw), y) == pytest.approx(_dot(x, warp_adjoint(y, fw)), rel=1e-10)
    # derivative channels of the data term
    y3 = torch.randn(t, 3 * c, h, w, generator=g, dtype=D)
    assert _dot(data_channels(x), y3) == pytest.approx(_dot(x, data_channels_adjoint(y3)), rel=1e-10)
    # the whole blur operator A = K G used by the latent solver
    sigma = 1.2 * torch.rand(t, 1, h, w, generator=g, dtype=D)
    op = BlurOperator(fw, bw, torch.full((t,), 0.6, dtype=D), 2, sigma)
    assert _dot(op.A(x), y) == pytest.approx(_dot(x, op.A_adjoint(y)), rel=1e-10)
    # temporal links (N = 2, composed flows)
    links = temporal_links(fw, bw, 2)
    assert sorted(links.offsets) == [-2, -1, 1, 2] and links.count() == 2 * (t - 1) + 2 * (t - 2)
    q = {n: torch.randn(links.src[n].numel(), c, h, w, generator=g, dtype=D) for n in links.offsets}
    tx = links.apply(x)
    assert sum(_dot(tx[n], q[n]) for n in links.offsets) == pytest.approx(_dot(x, links.adjoint(q, x)), rel=1e-10)
    # the slices the solver uses instead of index gathers name the same frames
    for n in links.offsets:
        src, dst = links.rows(n)
        assert torch.equal(torch.arange(t)[src], links.src[n]) and torch.equal(torch.arange(t)[dst], links.dst[n])


def test_flow_jacobian_matches_finite_differences():
    """``∂(K L)/∂u`` (used by the flow linearisation) agrees with differences on a smooth image."""
    h, w = 24, 28
    ys, xs = torch.meshgrid(torch.arange(h, dtype=D), torch.arange(w, dtype=D), indexing="ij")
    img = (torch.sin(xs / 3.0) * torch.cos(ys / 4.0) + 0.3 * torch.sin((xs + ys) / 5.0))[None, None]
    fw = torch.zeros(1, 2, h, w, dtype=D)
    fw[:, 0], fw[:, 1] = 2.5, -1.2
    bw = torch.zeros_like(fw)
    bw[:, 0], bw[:, 1] = -1.8, 1.5
    gx, gy = central_grad(img)
    for side in ("fw", "bw"):
        _, jx, jy = render_motion_blur_jacobian(img, gx, gy, fw, bw, 0.8, 3, side)
        eps = 1e-3
        for comp, jac in ((0, jx), (1, jy)):
            d = torch.zeros_like(fw)
            d[:, comp] = eps
            args_p = (fw + d, bw) if side == "fw" else (fw, bw + d)
            args_m = (fw - d, bw) if side == "fw" else (fw, bw - d)
            fd = (render_motion_blur(img, *args_p, 0.8, 3) - render_motion_blur(img, *args_m, 0.8, 3)) / (2 * eps)
            inner = (slice(None), slice(None), slice(5, -5), slice(5, -5))
            err = (jac[inner] - fd[inner]).abs().max() / fd[inner].abs().max()
            assert err < 0.1, (side, comp, float(err))


# ---------------------------------------------------------------------------------------------------------------
# sub-solvers on a small synthetic clip (camera motion + moving layer), in float64

@pytest.fixture(scope="module")
def clip():
    c = make_blurry_clip(skimage.data.astronaut(), np.random.default_rng(0), n_frames=3, k=5, size=(36, 44),
                         dtype=D, quantize=False)
    c["gray_sharp"] = luminance(c["sharp"]).clamp(0, 1)
    c["gray_blurry"] = luminance(c["blurry"])
    c["tau_t"] = torch.full((3,), c["tau"], dtype=D)
    return c


def test_latent_step_lowers_its_energy(clip):
    blurry, fw, bw, tau = clip["gray_blurry"], clip["flow_fw"], clip["flow_bw"], clip["tau_t"]
    op = BlurOperator(fw, bw, tau, 3, torch.full_like(blurry, 0.3))
    links = temporal_links(fw, bw, 2)
    e0 = latent_energy(blurry, blurry, op, links, 250.0, 2.0)
    # without the descent safeguard: the primal-dual/CG iterations themselves must lower the energy
    out = latent_step(blurry, blurry, op, links, 250.0, 2.0, pd_iters=5, cg_iters=5, ensure_descent=False)
    e1 = latent_energy(out, blurry, op, links, 250.0, 2.0)
    assert float(e1.sum()) < 0.9 * float(e0.sum())
    assert bool((e1 < e0).all()), "every frame improves"
    assert out.min() >= 0 and out.max() <= 1
    # and the latent frames get closer to the sharp ones than the blurry input
    err = lambda x: float((x - clip["gray_sharp"]).square().mean())  # noqa: E731
    assert err(out) < err(blurry)


def _flow_problem(clip, mu=250.0, nu=2.0, sigma=None):
    return FlowProblem(clip["gray_sharp"], clip["gray_blurry"], clip["tau_t"], 3, sigma, 250.0, mu, nu, 2, True)


def test_one_sides_render_is_reused_exactly(clip):
    """The two sides' tap sums make K; a trial that moves one side and keeps the other's sum gets the energy of
    rendering both at the trial flows, to the bit (the flow step's line search relies on it)."""
    prob = _flow_problem(clip, sigma=torch.full_like(clip["gray_sharp"], 0.7))
    fw, bw, tau = clip["flow_fw"], clip["flow_bw"], clip["tau_t"]
    gdl = prob.defocused()
    fw_sum = render_motion_blur_side(gdl, fw, tau, 3, "fw")
    bw_sum = render_motion_blur_side(gdl, bw, tau, 3, "bw")
    torch.testing.assert_close((fw_sum + bw_sum) / 7, render_motion_blur(gdl, fw, bw, tau, 3), rtol=0, atol=1e-12)
    e, render, (f_sum, b_sum) = flow_energy(prob, fw, bw, gdl, return_render=True)
    assert torch.equal(f_sum, fw_sum) and torch.equal(b_sum, bw_sum)
    moved = fw + 0.3
    full = flow_energy(prob, moved, bw, gdl, return_render=True)
    reused = flow_energy(prob, moved, bw, gdl, return_render=True, sides=(None, bw_sum))
    assert float(reused[0]) == float(full[0]) and torch.equal(reused[1], full[1])
    assert float(full[0]) != float(e)


def test_flow_step_lowers_its_energy(clip):
    gt_fw, gt_bw = clip["flow_fw"], clip["flow_bw"]
    t, _, h, w = gt_fw.shape
    pert = 1.5 * torch.nn.functional.interpolate(torch.randn(t, 2, 2, 2, generator=_gen(8), dtype=D), size=(h, w),
                                                 mode="bilinear", align_corners=False)
    fw0, bw0 = gt_fw + pert, gt_bw - pert
    prob = _flow_problem(clip)
    e0 = float(flow_energy(prob, fw0, bw0))
    # one full (unhalved) step of the linearised solver per direction must already lower the true energy
    fw1, bw1, info = flow_step(prob, fw0, bw0, warps=1, pd_iters=30, median=False, line_search=1)
    assert info["accepted"] == 2 and info["energy_after"] < info["energy_before"] == pytest.approx(e0)
    fw2, bw2, info = flow_step(prob, fw1, bw1, warps=3, pd_iters=30, median=True)
    assert info["energy_after"] < info["energy_before"]
    assert info["accepted"] >= 1 and not torch.equal(fw2[0], fw1[0])
    # the flows that point out of the window are not constrained by it and stay as they were
    assert torch.equal(fw2[-1], fw0[-1]) and torch.equal(bw2[0], bw0[0])


def test_sigma_step_lowers_its_energy_and_finds_the_defocus(clip):
    sharp, fw, bw, tau = clip["gray_sharp"], clip["flow_fw"], clip["flow_bw"], clip["tau_t"]
    true_sigma = torch.full_like(sharp, 1.0)
    blurry = render_motion_blur(defocus_blur(sharp, true_sigma), fw, bw, tau, 3)
    prob = FlowProblem(sharp, blurry, tau, 3, None, 250.0, 0.0, 20.0, 2, True)
    s0 = torch.full_like(sharp, 0.25)
    e0 = float(sigma_energy(prob, fw, bw, s0, 20.0, 4))
    s1, info = sigma_step(prob, fw, bw, s0, 20.0, warps=1, pd_iters=21, line_search=1)
    assert info["accepted"] == 1 and info["energy_after"] < info["energy_before"] == pytest.approx(e0, rel=1e-6)
    s2, info = sigma_step(prob, fw, bw, s1, 20.0, warps=4)
    assert info["energy_after"] < info["energy_before"]
    inner = (slice(None), slice(None), slice(5, -5), slice(5, -5))
    assert abs(float(s2[inner].median()) - 1.0) < 0.15, float(s2[inner].median())


def test_deblur_window_levels_and_windows(clip):
    frames = clip["blurry"]
    cfg = GVDConfig(max_levels=3, flow_warps=1, flow_pd_iters=3, sigma_warps=1, latent_pd_iters=1, filter=False)
    sizes = []
    out, aux = deblur_window(frames, cfg, clip["tau"], (clip["flow_fw"], clip["flow_bw"]),
                             callback=lambda d: sizes.append(d["size"]))
    assert sizes == list(reversed(pyramid_shapes(36, 44, 0.9, 16, 3)))
    assert out.shape == frames.shape and aux["flow_fw"].shape == clip["flow_fw"].shape
    assert set(aux["stage_seconds"]) >= {"latent", "flow", "sigma"}
    # the solver improves on the blurry frames even with this short schedule and the true flows
    assert float((out - clip["sharp"]).square().mean()) < float((frames - clip["sharp"]).square().mean())
    # sliding windows: every frame is output exactly once, each from a window that contains it
    for t, win, margin in ((5, 5, 1), (12, 5, 1), (13, 5, 2), (7, 3, 1)):
        plan = _window_plan(t, win, margin)
        covered = [f for _, _, a, b in plan for f in range(a, b)]
        assert covered == list(range(t))
        assert all(s <= a and b <= e and e - s <= win for s, e, a, b in plan)


def test_latent_step_frame_by_frame_is_the_batched_step(monkeypatch):
    """The data prox solved frame by frame (large frames) gives the iterates of the batched CG."""
    from blurbench.ops.gvd import energy

    t, h, w = 3, 12, 15
    g = _gen(21)
    blurry = torch.rand(t, 3, h, w, generator=g, dtype=D)
    latent = torch.rand(t, 3, h, w, generator=g, dtype=D)
    fw, bw = _flows(t, h, w, 22, scale=1.5), _flows(t, h, w, 23, scale=1.5)
    tau = torch.tensor([0.5, 0.7, 0.9], dtype=D)
    op = BlurOperator(fw, bw, tau, 2, 0.8 * torch.rand(t, 1, h, w, generator=g, dtype=D))
    links = temporal_links(fw, bw, 2, True)
    runs = []
    for split_min in (10**9, 0):  # batched, then frame by frame
        monkeypatch.setattr(energy, "FRAME_SPLIT_MIN", split_min)
        runs.append(latent_step(latent, blurry, op, links, 250.0, 2.0, 3, 4))
    assert torch.allclose(runs[0], runs[1], atol=1e-12)


def test_adaptive_levels_follow_size_and_blur():
    """The `gvd` pyramid rule: the coarsest short side is about 56 px, more levels when the blur is long."""
    from blurbench.ops.gvd.pyramid import adaptive_levels, expected_blur

    assert adaptive_levels(96, 128) == 6  # the built-in 96x128 clips keep the schedule chosen on them
    assert adaptive_levels(256, 320) == 15
    assert adaptive_levels(200, 280) == 13
    assert adaptive_levels(40, 60) == 1  # already below the coarse size
    # grows with the size: 720p asks for more than the pyramid's cap of 17 (the caller caps: the paper's 17 levels)
    assert adaptive_levels(720, 1280) > 17
    levels = [adaptive_levels(s, s) for s in range(48, 800, 16)]
    assert levels == sorted(levels)
    for n in (6, 15):  # the coarsest level of the rule's pyramid is the first at or above 56 px
        shapes = pyramid_shapes(*((96, 128) if n == 6 else (256, 320)), 0.9, 16, 17)[:n]
        assert min(shapes[-1]) >= 56 > min(shapes[-1]) * 0.9
    # a long blur on a small frame adds levels until it is at most coarse_blur px at the coarsest level
    assert adaptive_levels(96, 128, blur=8.0) == 6
    n = adaptive_levels(96, 128, blur=20.0)
    assert n > 6 and 20.0 * 0.9 ** (n - 1) <= 8.0 < 20.0 * 0.9 ** (n - 2)
    # blur length from the flows: the quantile of tau*|u|, blind to a few outlier vectors
    fw = torch.zeros(2, 2, 10, 10)
    fw[:, 0] = 4.0
    fw[0, :, 0, 0] = 100.0
    assert expected_blur(fw, -fw, torch.tensor([0.5, 0.5])) == pytest.approx(2.0)


def test_deblur_window_uses_the_adaptive_levels(clip):
    cfg = GVDConfig(coarse_size=30, flow_warps=1, flow_pd_iters=2, sigma_warps=0, latent_pd_iters=1, filter=False,
                    color_pass=False)
    sizes = []
    deblur_window(clip["blurry"], cfg, clip["tau"], (clip["flow_fw"], clip["flow_bw"]),
                  callback=lambda d: sizes.append(d["size"]))
    from blurbench.ops.gvd.pyramid import adaptive_levels, expected_blur

    tau = torch.full((3,), clip["tau"], dtype=D)
    n = adaptive_levels(36, 44, 0.9, 30, expected_blur(clip["flow_fw"], clip["flow_bw"], tau))
    assert n > 1 and sizes == list(reversed(pyramid_shapes(36, 44, 0.9, 16, n)))
