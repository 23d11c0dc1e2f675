"""Duty-cycle estimation for GVD: the single-frame cue finds the blur length, and constant motion no longer fools τ̂."""

import numpy as np
import pytest
import skimage.data
import torch

from blurbench.ops.gvd import solver
from blurbench.ops.gvd.duty_cycle import combine_duty_cycle_scores, derivative_autocorrelation_scores
from blurbench.ops.gvd.flow import initial_flows
from blurbench.ops.gvd.kernels import render_motion_blur
from blurbench.ops.gvd.solver import GVDConfig, estimate_duty_cycle
from blurbench.ops.video_synthesis import make_blurry_clip

CANDIDATES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _argmin(scores: dict[float, float]) -> float:
    return min(scores, key=scores.get)


@pytest.mark.parametrize("tau", [0.4, 0.7, 1.0])
def test_cue_is_lowest_at_the_blur_length_of_the_forward_model(tau):
    # one photo blurred by GVD's own kernel under a uniform motion of (9, -5) px per frame
    sharp = torch.from_numpy(skimage.data.camera()[100:228, 120:280].astype(np.float64) / 255)[None, None]
    v = torch.tensor([9.0, -5.0], dtype=torch.float64)[None, :, None, None].expand(1, 2, 128, 160)
    blurry = render_motion_blur(sharp, v, -v, tau, 12)
    scores = derivative_autocorrelation_scores(blurry, v, -v, CANDIDATES)
    assert _argmin(scores) == pytest.approx(tau, abs=0.1)
    assert min(scores.values()) < -0.1  # a real anti-correlation, not noise around 0


def test_cue_without_motion_gives_no_evidence():
    gray = torch.rand(2, 1, 24, 32, generator=torch.Generator().manual_seed(0))
    still = torch.zeros(2, 2, 24, 32)
    assert set(derivative_autocorrelation_scores(gray, still, still, CANDIDATES).values()) == {0.0}


def test_combination_defers_to_whichever_score_is_informative():
    taus = (0.4, 0.7, 1.0)
    flat = {t: 5.0 for t in taus}
    cue = {0.4: 0.1, 0.7: -0.3, 1.0: 0.0}
    pair = {0.4: 2.0, 0.7: 3.0, 1.0: 1.0}
    assert _argmin(combine_duty_cycle_scores(flat, cue)) == 0.7  # constant motion: the cue decides
    assert _argmin(combine_duty_cycle_scores(pair, dict.fromkeys(taus, 0.0))) == 1.0  # no motion: the pairs decide
    # the pair term is relative: scaling the pair scores (e.g. more frames) changes nothing
    scaled = combine_duty_cycle_scores({t: 7 * p for t, p in pair.items()}, cue)
    assert scaled == pytest.approx(combine_duty_cycle_scores(pair, cue))


def test_constant_motion_clip_gets_its_duty_cycle(monkeypatch):
    # a full-exposure camera pan at constant speed: neighbouring frames blur identically, so the pair
    # consistency alone cannot pick τ (it chose 0.2 here); the combined estimate must find ~1
    clip = make_blurry_clip(skimage.data.camera(), np.random.default_rng([1, 9, 0, 0]), n_frames=5, k=9, stride=9,
                            size=(160, 224), camera_speed=(8.0, 16.0), object_speed=(6.0, 14.0), acceleration=0.0,
                            rotation_deg=0.0)
    assert clip["tau"] == 1.0
    cfg = GVDConfig()
    flows = initial_flows(clip["blurry"], cfg.init_flow, cfg.dis_preset)
    tau, scores = estimate_duty_cycle(clip["blurry"], cfg, flows)
    assert tau >= 0.9 and set(scores) == set(cfg.tau_candidates)
    monkeypatch.setattr(solver, "combine_duty_cycle_scores", lambda pair, cue: pair)
    pair_only, _ = estimate_duty_cycle(clip["blurry"], cfg, flows)
    assert pair_only <= 0.5  # the failure the cue fixes (if this starts passing, the fixture lost its point)
