"""The larger built-in clips (`video-large`, issue 19): what they promise, their layout and determinism (tiny copy)."""

from dataclasses import replace

import torch
from safetensors.torch import load_file

from blurbench.datamodules import builtin
from blurbench.datamodules.builtin_video import LARGE, SMALL, _Clips, _generate
from blurbench.datamodules.registry import datasets


def test_large_clips_are_large_moving_and_split_apart():
    assert min(LARGE.size) >= 256 and LARGE.n_frames >= 5
    assert LARGE.motion["camera_speed"][0] >= 10 and LARGE.motion["camera_speed"][1] <= 30
    assert any(obj for obj, _ in LARGE.recipes) and any(sigma for _, sigma in LARGE.recipes)
    test, val = LARGE.clip_ids("test"), LARGE.clip_ids("val")
    assert set(test) <= set(builtin.PHOTOS) and set(val) <= set(builtin.VAL_PHOTOS)
    assert {"video", "video-large"} <= {d.name for d in datasets("builtin")}
    assert SMALL.recipes == () and SMALL.motion == {}  # the small clips' generator call is unchanged


def test_layout_and_determinism_at_a_tiny_size(tmp_path):
    tiny = replace(LARGE, size=(24, 32), n_frames=3,
                   items=lambda split: [(i, lambda load=load: load()[::8, ::8]) for i, load in LARGE.items(split)[:2]])
    seed = builtin.split_seed(4, "val")
    a = sorted(_generate(tmp_path / "a", seed, split="val", clips=tiny))
    b = sorted(_generate(tmp_path / "b", seed, split="val", clips=tiny))
    assert a == b and len(a) == 2 * (2 * 3 + 1)
    assert all((tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes() for rel in a)
    clip = _Clips(tmp_path / "a", tiny.clip_ids("val")[:2], n_frames=3)[1]
    assert clip["blurry"].shape == clip["sharp"].shape == (3, 3, 24, 32)
    gt = load_file(str(tmp_path / "a" / clip["id"] / "gt.safetensors"))
    assert gt["flow_fw"].shape == (3, 2, 24, 32) and 0 < float(gt["tau"]) <= 1
    assert float(torch.as_tensor(gt["flow_fw"][:-1]).norm(dim=1).mean()) > 1.0  # it moves (10+ px/frame at full size)
