"""GVD as an evaluation method: built-in video clips, per-frame rows with EPE, predict on a frame folder."""

import json
import math

import pytest
import torch

import blurbench.tasks.gvd as gvd_task
from blurbench.datamodules import builtin
from blurbench.datamodules.builtin_video import N_FRAMES, BuiltinVideoDataModule
from blurbench.errors import ConfigError
from blurbench.ops.flow_vis import flow_to_color
from blurbench.tasks.gvd import GVDDeblur, VideoIdentity

from .conftest import run_cli

FAST = {"max_levels": 3, "flow_warps": 1, "flow_pd_iters": 5, "sigma_warps": 1, "latent_pd_iters": 2}


def _clip_batch():
    builtin.prepare("video")
    dm = BuiltinVideoDataModule()
    dm.setup("test")
    sample = dm.test_set[0]
    batch = {k: ([v] if not isinstance(v, torch.Tensor) else v[None]) for k, v in sample.items()}
    batch["names"] = [sample["names"]]
    return sample, batch


def test_builtin_clip_has_real_motion_and_consistent_ground_truth():
    sample, _ = _clip_batch()
    assert sample["blurry"].shape == sample["sharp"].shape == (N_FRAMES, 3, 96, 128)
    assert sample["flow_fw"].shape == (N_FRAMES, 2, 96, 128)
    assert sample["flow_fw"].abs().mean() > 0.5, "clips must move"
    assert 0 < float(sample["tau"]) <= 1
    assert (sample["blurry"] - sample["sharp"]).abs().mean() > 0.005


def test_gvd_rows_per_frame_with_epe():
    _, batch = _clip_batch()
    task = GVDDeblur(overrides=FAST)
    rows = task.test_step(batch, 0)
    assert [r["id"] for r in rows] == [f"astronaut/{t:03d}" for t in range(N_FRAMES)]
    assert all(math.isfinite(r["metrics"]["psnr"]) and 0 < r["metrics"]["ssim"] <= 1 for r in rows)
    # forward flows exist for all but the last frame, with the initial classical estimate beside them
    assert all("epe" in r["metrics"] and "epe_init" in r["metrics"] for r in rows[:-1])
    assert "epe" not in rows[-1]["metrics"]
    identity = VideoIdentity().test_step(batch, 0)
    gain = sum(r["metrics"]["psnr"] for r in rows) - sum(r["metrics"]["psnr"] for r in identity)
    assert gain > 0, "even a short GVD schedule must improve on the blurry frames"


def test_flow_colour_coding_direction_and_magnitude():
    flow = torch.zeros(2, 4, 4)
    flow[0, :, :2] = 1.0  # rightwards on the left half, zero on the right half
    rgb = flow_to_color(flow)
    assert torch.allclose(rgb[:, 0, 3], torch.ones(3)), "zero flow is white"
    left = rgb[:, 0, 0]
    assert left.min() < 0.5 and not torch.allclose(left, left.mean().expand(3)), "motion is a saturated colour"
    flow[0, :, :2] = -1.0
    assert not torch.allclose(flow_to_color(flow)[:, 0, 0], left), "opposite directions differ in hue"


def test_predict_gvd_on_frame_folder(tmp_path):
    src = builtin.prepare("video") / "coffee" / "blurry"
    frames = tmp_path / "frames"
    frames.mkdir()
    for t in range(3):
        (frames / f"f{t}.png").write_bytes((src / f"{t:03d}.png").read_bytes())
    result = run_cli("predict", "--method", "video-identity", "--input", str(frames), "--output", str(tmp_path / "o"),
                     "--accelerator", "cpu", "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "o").glob("*.png")) == ["f0.png", "f1.png", "f2.png"]


def test_known_duty_cycle_overrides_the_dataset_and_the_estimate(monkeypatch):
    seen = []

    def fake(frames, config, tau=None, window=5, return_aux=False):
        seen.append(tau)
        return frames, {}

    monkeypatch.setattr(gvd_task, "deblur_video", fake)
    frames = torch.zeros(3, 3, 16, 16)  # restore_clip also runs the (cheap) initial flows
    GVDDeblur(tau=0.5).restore_clip(frames, 0.875)
    GVDDeblur().restore_clip(frames, 0.875)
    GVDDeblur(use_gt_tau=False).restore_clip(frames, 0.875)
    assert seen == [0.5, 0.875, None]  # the user's τ, then the dataset's, then estimated
    with pytest.raises(ConfigError, match="duty cycle"):
        GVDDeblur(tau=1.5)


def test_predict_records_the_duty_cycle_it_used(tmp_path):
    sample, _ = _clip_batch()
    batch = {"blurry": sample["blurry"][None, :3], "id": ["clip"], "names": [["a.png", "b.png", "c.png"]]}
    for task, estimated in ((GVDDeblur(overrides=FAST), True), (GVDDeblur(overrides=FAST, tau=0.5), False)):
        out = tmp_path / str(estimated)
        task.write_prediction(out, task.predict_step(batch, 0))
        record = json.loads((out / "duty_cycle.json").read_text())
        assert record["estimated"] is estimated and len(record["tau"]) == 3 and len(set(record["tau"])) == 1
        assert (0 < record["tau"][0] <= 1) and (estimated or record["tau"][0] == 0.5)
        assert (record["scores"] is not None) is estimated
        assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "b.png", "c.png"]
