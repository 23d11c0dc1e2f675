"""Paired bootstrap intervals: known answers (identical methods, constant shift), pairing, ties, tables."""

import csv
import io

import numpy as np
import pytest

from blurbench.leaderboard.bootstrap import intervals, mean_interval, paired_difference
from blurbench.leaderboard.table import render_csv, render_markdown, summarize


def _rows(method, values, dataset="motion", task="deblurring", metric="psnr"):
    return [{"method": method, "dataset": dataset, "task": task, "id": f"img{i:02d}",
             "metrics": {metric: float(v), "ssim": 0.5 + float(v) / 100}, "seconds": 0.1} for i, v in enumerate(values)]


def test_identical_methods_give_an_interval_at_zero_and_a_tie():
    values = np.random.default_rng(1).normal(25, 3, size=12)
    ci = intervals(_rows("identity", values) + _rows("copy", values))
    d = ci[("deblurring", "copy", "motion")]["vs"]["reference"]["psnr"]
    assert d["diff"] == 0 and d["lo"] == 0 and d["hi"] == 0 and d["tie"]


def test_constant_shift_gives_an_interval_at_the_shift_and_no_tie():
    values = np.random.default_rng(2).normal(25, 3, size=10)
    ci = intervals(_rows("identity", values) + _rows("better", values + 0.7))
    d = ci[("deblurring", "better", "motion")]["vs"]["reference"]["psnr"]
    assert d["diff"] == pytest.approx(0.7, abs=1e-12)
    assert d["lo"] == pytest.approx(0.7, abs=1e-9) and d["hi"] == pytest.approx(0.7, abs=1e-9)
    assert not d["tie"]
    # the best method is "better"; identity's difference to it is −0.7
    best = ci[("deblurring", "identity", "motion")]["vs"]["best"]
    assert best["method"] == "better" and best["psnr"]["diff"] == pytest.approx(-0.7)


def test_pairing_removes_what_images_share():
    """Image difficulty varies by ±5 dB but method B is always 0.2 dB better: the paired interval excludes 0
    although the two unpaired mean intervals overlap widely."""
    rng = np.random.default_rng(3)
    base = rng.normal(25, 5, size=8)
    b = base + 0.2 + rng.normal(0, 0.05, size=8)
    ci = intervals(_rows("identity", base) + _rows("b", b))
    d = ci[("deblurring", "b", "motion")]["vs"]["reference"]["psnr"]
    assert 0 < d["lo"] < 0.2 < d["hi"] < 0.4 and not d["tie"]
    lo_a, hi_a = ci[("deblurring", "identity", "motion")]["ci"]["psnr"]
    lo_b, hi_b = ci[("deblurring", "b", "motion")]["ci"]["psnr"]
    assert lo_b < hi_a and lo_a < hi_b  # unpaired intervals overlap


def test_noise_only_difference_is_a_tie_and_intervals_cover_the_mean():
    rng = np.random.default_rng(4)
    base = rng.normal(25, 2, size=8)
    ci = intervals(_rows("identity", base) + _rows("noise", base + rng.normal(0, 0.5, size=8)))
    entry = ci[("deblurring", "noise", "motion")]
    lo, hi = entry["ci"]["psnr"]
    assert lo < float(np.mean(base)) + 2 and hi > lo
    mean, lo1, hi1 = mean_interval(base)
    assert lo1 < mean < hi1 and mean == pytest.approx(base.mean())
    diff, dlo, dhi = paired_difference(base + 1.0, base)
    assert diff == pytest.approx(1.0) and dlo == pytest.approx(1.0) and dhi == pytest.approx(1.0)


def test_intervals_are_seeded_and_video_resamples_clips():
    rows = []
    rng = np.random.default_rng(5)
    for method, shift in (("video-identity", 0.0), ("gvd", 1.0)):
        for clip in range(3):
            for f in range(4):
                v = 30 + clip * 3 + shift + rng.normal(0, 0.1)
                rows.append({"method": method, "dataset": "video", "task": "video-deblurring",
                             "id": f"clip{clip}/{f:03d}", "metrics": {"psnr": v}, "seconds": 1.0})
    a, b = intervals(rows), intervals(rows)
    assert a == b
    images = _rows("identity", rng.normal(25, 2, size=10))
    assert intervals(images, seed=1) != intervals(images, seed=0) == intervals(images, seed=0)
    # three clips: a resample of clips can only give means built from clip means (≈30, 33, 36 + 1)
    lo, hi = a[("video-deblurring", "gvd", "video")]["ci"]["psnr"]
    assert lo >= 30.5 and hi <= 37.5 and hi - lo > 2  # clip-level spread, not the 0.1 frame noise
    assert a[("video-deblurring", "gvd", "video")]["vs"]["reference"]["method"] == "video-identity"


def test_tables_show_intervals_ties_and_published_rows_without():
    values = np.random.default_rng(6).normal(25, 2, size=6)
    rows = _rows("identity", values) + _rows("same", values) + _rows("up", values + 1)
    entries = summarize(rows)
    published = {"task": "deblurring", "dataset": "gopro", "split": "test", "protocol": "as published",
                 "method": "paper", "source": "published", "n": None, "metrics": {"psnr": 27.0}, "seconds": None,
                 "reference": "Carbajal et al. 2021, Table 1"}
    md = render_markdown(entries + [published])
    assert "[95% CI]" in md and "tie" in md and "(itself)" in md
    line = next(x for x in md.splitlines() if x.startswith("| motion | up |"))
    assert "+1.00 [1.00, 1.00]" in line
    assert "published (Carbajal et al. 2021, Table 1)" in md and "no intervals" in md
    csv_text = render_csv(entries + [published])
    table = list(csv.reader(io.StringIO(csv_text)))
    header = table[0]
    assert {"psnr_lo", "psnr_hi", "psnr_vs_reference_diff", "psnr_vs_best_tie", "params", "macs"} <= set(header)
    paper = next(r for r in table if r[header.index("method")] == "paper")
    assert paper[header.index("psnr_lo")] == "" and paper[header.index("psnr")] == "27.0"


def test_terminal_summary_is_compact_with_intervals():
    from blurbench.leaderboard.table import render_terminal

    values = np.random.default_rng(7).normal(25, 2, size=5)
    entries = summarize(_rows("identity", values) + _rows("up", values + 1))
    published = {"task": "deblurring", "dataset": "gopro", "method": "paper", "source": "published", "n": None,
                 "metrics": {"psnr": 27.0}, "seconds": None}
    text = render_terminal(entries + [published])
    lines = text.splitlines()
    assert lines[0] == "deblurring" and "PSNR (dB) [95% CI]" in lines[1] and "paper" not in text
    up = next(x for x in lines if x.strip().startswith("up "))
    lo, hi = entries[0]["ci"]["psnr"] if entries[0]["method"] == "up" else entries[1]["ci"]["psnr"]
    assert f"[{lo:.2f}, {hi:.2f}]" in up and " 5 " in up


def test_a_single_image_gets_no_interval():
    ci = intervals(_rows("identity", [25.0]) + _rows("up", [26.0]))
    assert "psnr" not in ci[("deblurring", "up", "motion")]["ci"]
    d = ci[("deblurring", "up", "motion")]["vs"]["reference"]["psnr"]
    assert d["diff"] == 1.0 and d["lo"] is None and d["tie"] is None
    md = render_markdown(summarize(_rows("identity", [25.0]) + _rows("up", [26.0])))
    assert "+1.00 (1 unit: no interval)" in md


def test_compare_pairs_gives_each_requested_difference_as_the_tables_do():
    """Table 3's chain (resume − base, reblur − resume): each pair's paired difference, in the order asked, equal
    to the one the tables compute against the same other method; pairs missing from the rows are skipped."""
    from blurbench.leaderboard.bootstrap import compare_pairs

    rng = np.random.default_rng(5)
    base = rng.normal(25, 3, size=9)
    noise = rng.normal(0, 0.05, size=9)
    rows = _rows("base", base) + _rows("resume", base + 0.3 + noise) + _rows("reblur", base + 0.31 + noise)
    out = compare_pairs(rows, [("resume", "base"), ("reblur", "resume"), ("absent", "base")])
    assert [(c["method"], c["other"]) for c in out] == [("resume", "base"), ("reblur", "resume")]
    first, second = out
    assert first["psnr"]["diff"] == pytest.approx(0.3 + noise.mean()) and not first["psnr"]["tie"]
    assert second["psnr"]["diff"] == pytest.approx(0.01) and second["psnr"]["lo"] == pytest.approx(0.01)
    tables = intervals(rows, references={"deblurring": "base"})[("deblurring", "resume", "motion")]["vs"]["reference"]
    assert first["psnr"] == tables["psnr"] and first["task"] == "deblurring" and first["dataset"] == "motion"


def test_leaderboard_compare_prints_each_pair_and_refuses_unknown_ones(tmp_path, capsys):
    from blurbench.cli import main
    from blurbench.results import ResultsStore

    base = np.random.default_rng(6).normal(25, 3, size=6)
    ResultsStore(tmp_path).write(_rows("base", base) + _rows("resume", base + 0.5))
    assert main(["leaderboard", "--from", str(tmp_path), "--compare", "resume:base"]) == 0
    out = capsys.readouterr().out
    assert "motion: resume − base (n 6): psnr +0.5 [+0.5, +0.5]" in out and "tie" not in out.split("psnr")[1][:20]
    assert main(["leaderboard", "--from", str(tmp_path), "--compare", "resume:nothing"]) == 2
    assert main(["leaderboard", "--from", str(tmp_path), "--compare", "resume"]) == 2
    assert "resume" in capsys.readouterr().err
