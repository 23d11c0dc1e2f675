"""`blurbench data check` (subprocess, as a user runs it) and `evaluate --suite` on an on-disk dataset."""

from __future__ import annotations

import json

import cv2
import numpy as np

from blurbench.cli import main

from . import dataset_trees as trees
from .conftest import run_cli


def test_data_check_cli_reports_each_problem_once(tmp_path, capsys):
    tree = trees.gopro(tmp_path)
    assert main(["data", "check", "gopro", "--root", str(tmp_path), "--allow-subset", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"dataset": "gopro", "root": str(tree.root), "splits": {"train": 3, "test": 5}, "problems": []}

    (tree.root / "test/GOPR0410_11_00/sharp/000001.png").unlink()                       # deleted
    tree.blurry.write_bytes(b"\x89PNG\r\n\x1a\nnot really")                              # unreadable
    cv2.imwrite(str(tree.root / "test/GOPR0384_11_00/sharp/000003.png"), np.zeros((9, 16, 3), np.uint8))  # size
    bad = run_cli("data", "check", "gopro", "--root", str(tmp_path), "--allow-subset", "--json")
    assert bad.returncode == 2
    problems = json.loads(bad.stdout)["problems"]
    assert len(problems) == 3, problems
    assert any(p.endswith("GOPR0410_11_00/sharp/000001.png: missing") for p in problems)
    assert any(str(tree.blurry) in p and "unreadable" in p for p in problems)
    assert any("GOPR0384_11_00/sharp/000003.png: size 16x9 differs from" in p for p in problems)

    capsys.readouterr()
    assert main(["data", "check", "gopro", "--root", str(tmp_path)]) == 2  # strict: official counts too
    out = capsys.readouterr().out
    assert "test: 5 items (official 1111)" in out and "official count is 1111" in out


def test_data_check_needs_root_and_known_name(capsys):
    assert main(["data", "check", "gopro"]) == 2
    assert "pass --root" in capsys.readouterr().err
    assert main(["data", "check", "nope", "--root", "."]) == 2
    assert "no checker for dataset 'nope'" in capsys.readouterr().err


def test_evaluate_suite_names_protocol_and_split(tmp_path, monkeypatch):
    from blurbench.evaluation import evaluate

    trees.realblur(tmp_path / "data", size=(48, 48))
    monkeypatch.setenv("BLURBENCH_ALLOW_SUBSET", "1")
    entries = evaluate("realblur", ["identity"], ["realblur-j"], tmp_path / "run", accelerator="cpu",
                       data_root=tmp_path / "data", progress=False)
    (entry,) = entries
    assert entry["n"] == 3 and entry["split"] == "test (subset 3/980)"
    assert entry["protocol"].startswith("realblur-ecc")
    md = (tmp_path / "run" / "leaderboard.md").read_text()
    assert "realblur-ecc" in md and "subset 3/980" in md
