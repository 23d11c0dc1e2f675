"""CUHK blur detection datamodule: official layout, odd/even split, mask polarity, check and `data check`."""

import json

import cv2
import numpy as np
import pytest

from blurbench.datamodules.cuhk import CUHKBlurDetection
from blurbench.datamodules.registry import get_dataset
from blurbench.errors import ConfigError

from .conftest import run_cli


def _tree(root, motion=range(1, 7), defocus=range(1, 3), size=(12, 10)):
    """ROOT/image/<cat>NNNN.jpg and ROOT/gt/<cat>NNNN.png: the top rows white (blurred), the rest black (sharp)."""
    (root / "image").mkdir(parents=True, exist_ok=True)
    (root / "gt").mkdir(parents=True, exist_ok=True)
    h, w = size
    gt = np.zeros((h, w), np.uint8)
    gt[:3] = 255
    rng = np.random.default_rng(0)
    for cat, numbers in (("motion", motion), ("out_of_focus", defocus)):
        for n in numbers:
            cv2.imwrite(str(root / "image" / f"{cat}{n:04d}.jpg"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
            cv2.imwrite(str(root / "gt" / f"{cat}{n:04d}.png"), gt)
    return root


def test_split_is_odd_train_even_test_and_masks_mark_blur(tmp_path):
    root = _tree(tmp_path / "cuhk")
    dm = CUHKBlurDetection(root, allow_subset=True)
    assert dm.name == "cuhk-motion" and dm.kind == "detection"
    assert [r.id for r in dm.records("test")] == ["image/motion0002.jpg", "image/motion0004.jpg",
                                                   "image/motion0006.jpg"]
    assert [r.id for r in dm.records("train")] == ["image/motion0001.jpg", "image/motion0003.jpg",
                                                    "image/motion0005.jpg"]
    assert dm.check() == []
    sample = dm.build_test_dataset()[0]
    assert sample["blurry"].shape == (3, 12, 10) and sample["mask"].shape == (1, 12, 10)
    assert sample["mask"][0, :3].min() == 1 and sample["mask"][0, 3:].sum() == 0  # white = blurred -> 1
    flipped = CUHKBlurDetection(root, allow_subset=True, gt_white="sharp").build_test_dataset()[0]
    assert flipped["mask"][0, :3].sum() == 0 and flipped["mask"][0, 3:].min() == 1
    assert get_dataset("cuhk", "cuhk-motion").kind == "detection"


def test_official_counts_pass_and_subsets_are_reported(tmp_path):
    root = _tree(tmp_path / "full", motion=range(1, 297), defocus=(), size=(4, 4))
    dm = CUHKBlurDetection(root, allow_subset=False)
    assert dm.check() == [] and len(dm.records("test")) == 148
    (root / "image" / "motion0296.jpg").unlink()
    problems = CUHKBlurDetection(root, allow_subset=False).check()
    assert any("motion0296.jpg: missing" in p for p in problems)
    assert CUHKBlurDetection(root, split="train", allow_subset=False).check() == []  # 296 is even


def test_check_reports_missing_unreadable_and_mismatched_files(tmp_path):
    root = _tree(tmp_path / "bad")
    (root / "gt" / "motion0002.png").unlink()
    (root / "image" / "motion0004.jpg").write_bytes(b"not a jpeg")
    cv2.imwrite(str(root / "gt" / "motion0006.png"), np.zeros((5, 5), np.uint8))
    problems = CUHKBlurDetection(root, allow_subset=True).check()
    assert any("gt/motion0002.png: missing" in p for p in problems)
    assert any("motion0004.jpg: unreadable" in p for p in problems)
    assert any("motion0006.png: size 5x5 differs" in p for p in problems)
    with pytest.raises(ConfigError, match="category"):
        CUHKBlurDetection(root, category="defocus")


def test_data_check_cli(tmp_path):
    root = _tree(tmp_path / "cli")
    res = run_cli("data", "check", "cuhk", "--root", str(root), "--json")
    assert res.returncode == 2, res.stderr
    report = json.loads(res.stdout)
    assert report["splits"]["motion/test"] == 3 and report["splits"]["out_of_focus/train"] == 1
    assert any("official count is 148" in p for p in report["problems"])
    res = run_cli("data", "check", "cuhk-motion", "--root", str(root), "--allow-subset")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "test: 3 items (official 148)" in res.stdout


def test_uppercase_jpg_suffix_is_found(tmp_path):
    """Several out_of_focus images of the official release end in ``.JPG``; they must not go missing."""
    root = _tree(tmp_path / "upper", motion=(), defocus=range(1, 5))
    (root / "image" / "out_of_focus0002.jpg").rename(root / "image" / "out_of_focus0002.JPG")
    dm = CUHKBlurDetection(root, category="out_of_focus", allow_subset=True)
    assert [r.id for r in dm.records("test")] == ["image/out_of_focus0002.JPG", "image/out_of_focus0004.jpg"]
    assert dm.check() == []
