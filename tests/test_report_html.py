"""The HTML report of a small evaluate run, rendered in headless Chromium: tables, plots, pictures, no network."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from blurbench.evaluation import evaluate
from blurbench.leaderboard.report import crop_where_methods_differ, pareto_front

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


def page_requests(netlog: Path) -> list[str]:
    """URLs the page itself asked for (Chromium's own background requests carry no origin and are left out)."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] == start and "url" in params and params.get("initiator") != "not an origin":
            if not params["url"].startswith(("file:", "data:")):
                urls.append(params["url"])
    return urls


needs_chromium = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                    reason="Chromium not installed (`.ci/run` installs Debian's chromium)")


def test_pareto_front_and_crop_choice():
    # (seconds, quality): the slow bad method is dominated; ties in time keep the better one
    assert pareto_front([(1.0, 20.0), (0.1, 22.0), (5.0, 25.0), (10.0, 21.0)]) == [1, 2]
    assert pareto_front([(1.0, 0.3), (2.0, 0.1)], higher=False) == [0, 1]
    a = np.zeros((64, 80, 3), np.uint8)
    b = a.copy()
    b[40:56, 50:66] = 255  # the only place the two outputs differ
    top, left, side = crop_where_methods_differ([a, b], size=16)
    assert side == 16 and (top, left) == (40, 50)


@pytest.mark.slow
@needs_chromium
def test_report_renders_in_headless_chromium_without_network(tmp_path):
    assert CHROMIUM, "Chromium is missing: `.ci/run` installs it (apt-get install chromium)"
    out = tmp_path / "run"
    evaluate("builtin", ["identity", "rl-oracle", "mean-kernel", "laplacian-blur"], ["motion", "detection"], out,
             limit=2, accelerator="cpu", progress=False)
    page = out / "leaderboard.html"
    text = page.read_text()
    # self-contained: nothing fetched from anywhere, pictures inline
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text) and "@import" not in text
    assert text.count("data:image/jpeg;base64,") >= 2 * 3  # blurry/outputs/sharp crops of two images at least
    assert (out / "report" / "motion" / "rl-oracle").is_dir()
    cost = json.loads((out / "cost.json").read_text())
    assert cost["identity/motion"]["params"] == 0 and cost["identity/motion"]["macs"] is None
    assert cost["identity/motion"]["input"].startswith("1×3×")

    shot, netlog = tmp_path / "shot.png", tmp_path / "net.json"
    res = _chromium(page, tmp_path / "profile", "--window-size=1400,2400", f"--screenshot={shot}",
                    f"--log-net-log={netlog}")
    assert shot.is_file(), res.stderr[-2000:]
    image = cv2.imread(str(shot))
    assert image.shape[:2] == (2400, 1400) and image.std() > 20  # a rendered page, not a blank one
    assert page_requests(netlog) == []

    dom = _chromium(page, tmp_path / "profile2", "--dump-dom").stdout
    assert 'data-ready="1"' in dom  # the inline script ran (column sorting is wired)
    assert dom.count('<table class="lb"') == 3  # deblurring/motion, kernel-estimation/motion, detection
    assert dom.count('class="plot"') == 3 and dom.count('class="strip"') == 3
    assert dom.count('class="dot"') == 2 * (2 + 1 + 1)  # one dot per image and method (2 images)
    assert dom.count('class="pareto"') == 3
    assert len(re.findall(r'<div class="pics">', dom)) >= 2 * 3  # an image strip per image and dataset
    assert "GT kernels" in dom and "GT mask" in dom and "where the methods differ most" in dom


@needs_chromium
def test_network_check_catches_a_page_that_fetches(tmp_path):
    """The detector used above is not blind: a page loading an outside image is caught."""
    assert CHROMIUM
    page = tmp_path / "fetch.html"
    page.write_text('<html><body><img src="http://127.0.0.1:9/x.png"><p>x</p></body></html>')
    netlog = tmp_path / "net.json"
    _chromium(page, tmp_path / "profile", f"--screenshot={tmp_path / 's.png'}", f"--log-net-log={netlog}")
    assert page_requests(netlog) == ["http://127.0.0.1:9/x.png"]


def test_regenerate_writes_builtin_html_beside_the_tables(tmp_path, monkeypatch):
    from blurbench import regenerate

    everything = regenerate.methods
    monkeypatch.setattr(regenerate, "methods", lambda *a: [m for m in everything(*a) if m.name in ("identity",
                                                                                                 "mean-kernel")])
    regenerate.regenerate(tmp_path / "lb", limit=1, run_dir=tmp_path / "run")
    names = sorted(p.name for p in (tmp_path / "lb").iterdir())
    assert names == ["builtin.csv", "builtin.html", "builtin.json", "builtin.md", "published.csv", "published.json",
                     "published.md"]
    page = (tmp_path / "lb" / "builtin.html").read_text()
    assert "identity" in page and "mean-kernel" in page and "Carbajal et al. 2021, Table 1" in page
    assert "data:image/jpeg;base64," in page  # pictures of the run, inline
    # `blurbench leaderboard --from RUN --html DIR` re-renders the report of a run elsewhere, pictures included
    from blurbench.cli import main

    assert main(["leaderboard", "--from", str(tmp_path / "run"), "--html", str(tmp_path / "html")]) == 0
    again = (tmp_path / "html" / "leaderboard.html").read_text()
    assert "mean-kernel" in again and "data:image/jpeg;base64," in again and "GT kernels" in again


def test_plot_labels_never_overlap():
    from blurbench.leaderboard.report import LABEL_CHAR_WIDTH, LABEL_HEIGHT, label_positions, quality_vs_seconds_svg

    # four methods within a pixel of each other (the deblurgan trio tie), one near the right edge
    points = [(200.0, 100.0, "deblurgan-small"), (200.5, 100.4, "deblurgan-small-resume"),
              (200.2, 99.8, "deblurgan-small-reblur"), (201.0, 101.0, "identity"), (430.0, 100.0, "rl-oracle")]
    placed = label_positions(points, 460, 20, 260)
    boxes = []
    for (_, _, text), (lx, ly, anchor) in zip(points, placed):
        w = LABEL_CHAR_WIDTH * len(text)
        x0 = lx if anchor == "start" else lx - w
        boxes.append((x0, ly - LABEL_HEIGHT + 2, x0 + w, ly + 2))
        assert x0 + w <= 460 + 1e-9 and x0 >= 0  # inside the picture
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    assert placed[4][2] == "end"  # flipped left of a point at the right edge
    entries = [{"method": t, "seconds": 0.1, "metrics": {"psnr": 23.0}} for _, _, t in points]  # one spot
    svg = quality_vs_seconds_svg(entries, "psnr")
    assert svg.count('class="label"') == 5 and svg.count('class="leader"') >= 3  # moved labels point home
