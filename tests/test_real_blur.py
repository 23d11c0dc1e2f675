"""Real blur without ground truth: scikit-image's clock_motion.png (suite `real`) and a folder of photos
(`--suite real-folder`): outputs side by side in the report, s/sample recorded, no metric anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from blurbench.datamodules.real import clock_motion_path
from blurbench.errors import ConfigError
from blurbench.evaluation import evaluate, plan

from .conftest import run_cli

METHODS = ["identity", "mean-kernel", "laplacian-blur"]  # one per task, fast; none needs a ground truth


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_clock_motion_outputs_side_by_side_without_metrics(tmp_path: Path) -> None:
    assert clock_motion_path().is_file()  # shipped inside scikit-image
    out = tmp_path / "real"
    entries = evaluate("real", METHODS, None, out, accelerator="cpu", progress=False)
    assert sorted((e["task"], e["method"], e["dataset"], e["n"]) for e in entries) == [
        ("blur-detection", "laplacian-blur", "clock-motion", 1), ("deblurring", "identity", "clock-motion", 1),
        ("kernel-estimation", "mean-kernel", "clock-motion", 1)]
    for e in entries:
        assert e["metrics"] == {} and e["seconds"] > 0 and e["split"] == "all"
        assert "no ground truth" in e["protocol"]
    rows = _rows(out / "results.jsonl")
    assert {r["id"] for r in rows} == {"clock_motion.png"} and all(r["metrics"] == {} for r in rows)

    pictures = out / "report" / "clock-motion"
    blurry = cv2.imread(str(pictures / "_inputs" / "clock_motion.png_blurry.png"))
    photo = cv2.imread(str(clock_motion_path()))
    assert np.array_equal(blurry, photo)  # the photograph itself, not a synthetic blur of it
    assert not list((pictures / "_inputs").glob("*_sharp.png"))
    identity = cv2.imread(str(pictures / "identity" / "clock_motion.png.png"))
    assert np.array_equal(identity, photo)
    kernels = cv2.imread(str(pictures / "mean-kernel" / "clock_motion.png.png"))
    assert kernels.shape == photo.shape and not np.array_equal(kernels, photo)  # the grid drawn on the photo
    assert (pictures / "laplacian-blur" / "clock_motion.png.png").is_file()

    page = (out / "leaderboard.html").read_text()
    section = page[page.index("<h2 id='real'>"):]
    figure = section[section.index("clock_motion.png</p>"):]
    captions = [c for c in ("blurry (real)", "mean-kernel (kernels)", "laplacian-blur (blur score)", "identity")
                if c in figure]
    assert captions == ["blurry (real)", "mean-kernel (kernels)", "laplacian-blur (blur score)", "identity"]
    assert [figure.index(c) for c in captions] == sorted(figure.index(c) for c in captions)  # Figure-5 order
    assert figure.count("data:image/jpeg;base64,") == 4
    markdown = (out / "leaderboard.md").read_text()
    assert "| clock-motion | all | identity | measured | 1 | " in markdown and "Intervals (" not in markdown


def test_real_folder_runs_on_a_folder_of_photos(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "trip").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "trip/b.jpg"):
        image = cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), (0, 0), 2.0)
        cv2.imwrite(str(photos / name), image)
    out = tmp_path / "out"
    res = run_cli("evaluate", "--suite", "real-folder", "--data-root", str(photos), "--methods",
                  ",".join(METHODS), "--out", str(out), "--accelerator", "cpu")
    assert res.returncode == 0, res.stderr
    rows = _rows(out / "results.jsonl")
    assert sorted((r["method"], r["id"]) for r in rows) == sorted(
        (m, i) for m in METHODS for i in ("a.png", "trip/b.jpg"))
    assert all(r["metrics"] == {} and r["seconds"] > 0 for r in rows)
    page = (out / "leaderboard.html").read_text()
    assert "trip/b.jpg</p>" in page and page.count("<div class='pics real'>") == 2

    # the oracles need a ground truth: one line before any work
    res = run_cli("evaluate", "--suite", "real-folder", "--data-root", str(photos), "--methods", "rl-oracle",
                  "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "needs a ground truth" in res.stderr and not (tmp_path / "o").exists()
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # not an image
    res = run_cli("evaluate", "--suite", "real-folder", "--data-root", str(photos), "--methods", "identity",
                  "--out", str(tmp_path / "b"))
    assert res.returncode == 2 and "broken.png" in res.stderr and "Traceback" not in res.stderr


def test_default_set_on_real_blur_leaves_out_what_needs_a_ground_truth() -> None:
    names = {m.name for m in plan("real", None, None).methods}
    assert {"identity", "mean-kernel", "laplacian-blur"} <= names
    assert not names & {"rl-oracle", "tv-oracle", "oracle-uniform", "hsd-tv-oracle"}
    assert not any(n.startswith(("gvd", "video")) for n in names)
    with pytest.raises(ConfigError, match="needs a ground truth"):
        plan("real", ["oracle-uniform"], None)
