"""Video datamodules: sliding windows over clips, one window per frame, edge replication, flow, training windows."""

from __future__ import annotations

import pytest
import torch

from blurbench.datamodules.catalog import get_checker
from blurbench.datamodules.video import window_indices
from blurbench.errors import ConfigError

from . import dataset_trees as trees


def test_window_indices_replicate_edges():
    assert window_indices(0, 5, 3) == [0, 0, 0, 1, 2]
    assert window_indices(2, 3, 3) == [1, 2, 2]
    assert window_indices(5, 5, 10) == [3, 4, 5, 6, 7]


@pytest.mark.parametrize("name, build", [("gopro-video", trees.gopro), ("dvd-video", trees.dvd),
                                         ("reds4-video", trees.reds), ("hfr-video", trees.hfr)])
def test_one_window_per_frame_with_centre_matching_image_dataset(tmp_path, name, build):
    build(tmp_path)
    video = get_checker(name).factory(tmp_path, allow_subset=True, window=3)
    image = get_checker(name.removesuffix("-video")).factory(tmp_path, allow_subset=True)
    assert video.kind == "video" and video.check() == []
    vds, ids = video.build_test_dataset(), [r.id for r in image.build_test_dataset().records]
    assert [r.id for r in vds.records] == ids  # every frame scored once, same ids as the image dataset
    s = vds[0]
    assert s["blurry"].shape[:2] == (3, 3) and s["sharp"].shape == s["blurry"].shape and s["centre"] == 1
    first = image.build_test_dataset()[0]
    assert torch.equal(s["blurry"][1], first["blurry"]) and torch.equal(s["blurry"][0], first["blurry"])  # replicated
    rows = video.score(s["sharp"][None, 1], {"sharp": s["sharp"][None]})
    assert rows[0]["psnr"] == 100.0


def test_sintel_video_windows_carry_flow(tmp_path):
    trees.sintel(tmp_path)
    dm = get_checker("sintel-final-video").factory(tmp_path, allow_subset=True, window=3)
    s = dm.build_test_dataset()[0]
    assert s["flow"].shape == (3, 2, 16, 16) and s["id"] == "training/final/alley_1/frame_0001.png"


def test_video_training_windows_stay_inside_clips(tmp_path):
    trees.gopro(tmp_path)
    dm = get_checker("gopro-video").factory(tmp_path, allow_subset=True, window=3, crop_size=8, batch_size=1)
    batch = next(iter(dm.train_dataloader()))
    assert batch["blurry"].shape == (1, 3, 3, 8, 8)
    with pytest.raises(ConfigError, match="odd"):
        get_checker("gopro-video").factory(tmp_path, allow_subset=True, window=4).build_test_dataset()
