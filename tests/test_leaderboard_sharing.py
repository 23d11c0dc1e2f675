"""`leaderboard push` to a Hub dataset repo and `leaderboard merge` of runs, against the local Hub emulator."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from blurbench.evaluation import evaluate

from .conftest import run_cli
from .hub_server import FakeHub


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two real evaluate runs that share samples: A (identity, mean-kernel; 2 images), B (identity; 3 images)."""
    root = tmp_path_factory.mktemp("runs")
    evaluate("builtin", ["identity", "mean-kernel"], ["motion"], root / "a", limit=2, accelerator="cpu",
             progress=False)
    evaluate("builtin", ["identity"], ["motion"], root / "b", limit=3, accelerator="cpu", progress=False)
    return {"a": root / "a", "b": root / "b"}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _one_error_line(res) -> str:
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def test_push_then_merge_with_a_local_run(runs: dict[str, Path], hub: FakeHub, tmp_path: Path) -> None:
    env = hub.env(tmp_path / "hf")
    res = run_cli("leaderboard", "push", str(runs["a"]), "--repo-id", "me/run-a", env=env)
    assert res.returncode == 0, res.stderr
    posts = {p for m, p, _ in hub.requests if m == "POST"}
    assert {"/api/repos/create", "/api/datasets/me/run-a/commit/main"} <= posts  # a dataset repo, one commit
    for name in ("results.jsonl", "provenance.json", "cost.json", "leaderboard.md", "leaderboard.csv",
                 "leaderboard.json", "leaderboard.html"):
        assert hub.get_file("datasets/me/run-a", name) == (runs["a"] / name).read_bytes(), name
    card = hub.get_file("datasets/me/run-a", "README.md").decode()
    assert "data_files: results.jsonl" in card and "| identity |" in card
    commit = hub.repos["datasets/me/run-a"].branches["main"]

    out = tmp_path / "merged"
    res = run_cli("leaderboard", "merge", "hf-hub:me/run-a", str(runs["b"]), "--out", str(out), env=env)
    assert res.returncode == 0, res.stderr
    assert "conflict:" not in res.stdout
    rows = _rows(out / "results.jsonl")
    label_a = f"hf-hub:me/run-a@{commit}"  # pinned to the commit it resolved to
    # A: identity and mean-kernel on images 1, 2; B: identity on 1, 2 (equal: dropped) and 3 (new)
    (new,) = set(_ids(runs["b"], "identity")) - set(_ids(runs["a"], "identity"))
    assert sorted((r["method"], r["id"], r["run"]) for r in rows) == sorted(
        [(m, i, label_a) for m in ("identity", "mean-kernel") for i in _ids(runs["a"], "identity")]
        + [("identity", new, str(runs["b"]))])
    merge = json.loads((out / "merge.json").read_text())
    assert merge["identical_duplicates_dropped"] == 2 and merge["conflicts"] == []
    assert [s["source"] for s in merge["sources"]] == [label_a, str(runs["b"])]

    entries = {(e["method"], e["dataset"]): e for e in json.loads((out / "leaderboard.json").read_text())["entries"]}
    identity = entries[("identity", "motion")]
    assert identity["n"] == 3 and identity["split"] == "test"
    b_rows = {r["id"]: r for r in _rows(runs["b"] / "results.jsonl")}
    assert identity["metrics"]["psnr"] == pytest.approx(sum(r["metrics"]["psnr"] for r in b_rows.values()) / 3)
    assert identity["provenance"]["run"] == f"{label_a} | {runs['b']}"  # both runs named, never blended silently
    assert entries[("mean-kernel", "motion")]["provenance"]["run"] == label_a
    assert entries[("mean-kernel", "motion")]["cost"]["params"] == 0
    page = (out / "leaderboard.html").read_text()
    assert "mean-kernel" in page and "data:image/jpeg;base64," in page  # identity's pictures, from B's folder
    pictures = out / "report" / "motion"
    assert (pictures / "identity").is_dir() and not (pictures / "mean-kernel").exists()  # A's are only in its html


def _ids(run: Path, method: str) -> list[str]:
    return sorted(r["id"] for r in _rows(run / "results.jsonl") if r["method"] == method)


def test_conflicts_are_listed_and_refused_unless_a_run_is_preferred(runs: dict[str, Path], tmp_path: Path) -> None:
    changed = tmp_path / "b-changed"
    shutil.copytree(runs["b"], changed)
    rows = _rows(changed / "results.jsonl")
    first = sorted(r["id"] for r in rows)[0]
    for r in rows:
        if r["id"] == first:
            old = r["metrics"]["psnr"]
            r["metrics"]["psnr"] = old + 1.0  # the same sample, measured differently
    (changed / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    out = tmp_path / "merged"
    res = run_cli("leaderboard", "merge", str(runs["b"]), str(changed), "--out", str(out))
    line = _one_error_line(res)
    assert "1 sample(s) measured differently" in line and "--prefer" in line
    listed = [x for x in res.stdout.splitlines() if x.startswith("conflict:")]
    assert len(listed) == 1 and f"identity on motion [test] {first}" in listed[0]
    assert f"psnr {old} vs {old + 1.0}" in listed[0]
    assert not out.exists()  # nothing written

    res = run_cli("leaderboard", "merge", str(runs["b"]), str(changed), "--out", str(out), "--prefer", str(changed))
    assert res.returncode == 0, res.stderr
    merged = {r["id"]: r for r in _rows(out / "results.jsonl")}
    assert merged[first]["metrics"]["psnr"] == old + 1.0 and merged[first]["run"] == str(changed)  # not averaged
    assert len(merged) == 3 and all(merged[i]["run"] == str(runs["b"]) for i in merged if i != first)
    conflicts = json.loads((out / "merge.json").read_text())["conflicts"]
    assert [(c["id"], c["kept"]) for c in conflicts] == [(first, str(changed))]

    res = run_cli("leaderboard", "merge", str(runs["b"]), str(changed), "--out", str(out), "--prefer", "nope")
    assert "--prefer nope: not one of the sources" in _one_error_line(res)


def test_runs_of_two_splits_stay_apart(runs: dict[str, Path], tmp_path: Path) -> None:
    from blurbench.leaderboard.sharing import merge_runs, write_merged

    val = tmp_path / "val"
    shutil.copytree(runs["b"], val)
    board = json.loads((val / "leaderboard.json").read_text())
    for e in board["entries"]:
        e["split"] = "val"  # as `evaluate --split val` records it
    (val / "leaderboard.json").write_text(json.dumps(board))
    merged = merge_runs([str(runs["b"]), str(val)])
    assert merged.duplicates == 0 and merged.conflicts == []  # same ids, other split: other samples
    write_merged(merged, tmp_path / "out")
    entries = json.loads((tmp_path / "out" / "leaderboard.json").read_text())["entries"]
    assert sorted((e["dataset"], e["split"], e["n"]) for e in entries) == [("motion-test", "test", 3),
                                                                           ("motion-val", "val", 3)]


def test_push_errors_are_one_line(runs: dict[str, Path], hub: FakeHub, tmp_path: Path) -> None:
    env = hub.env(tmp_path / "hf")
    res = run_cli("leaderboard", "push", str(tmp_path / "missing"), "--repo-id", "me/x", env=env)
    assert "missing: no such directory" in _one_error_line(res)
    (tmp_path / "empty").mkdir()
    res = run_cli("leaderboard", "push", str(tmp_path / "empty"), "--repo-id", "me/x", env=env)
    assert "no results.jsonl" in _one_error_line(res)
    no_token = {**env, "HF_TOKEN": "", "HF_HOME": str(tmp_path / "hf-home")}  # no stored login either
    res = run_cli("leaderboard", "push", str(runs["a"]), "--repo-id", "me/x", env=no_token)
    assert "no Hugging Face token" in _one_error_line(res) and "HF_TOKEN" in res.stderr
    res = run_cli("leaderboard", "push", str(runs["a"]), "--repo-id", "me/x",
                  env={**env, "HF_ENDPOINT": "http://127.0.0.1:9"})  # nothing listens on port 9
    assert "http://127.0.0.1:9) is unreachable" in _one_error_line(res)
    assert "datasets/me/x" not in hub.repos
    res = run_cli("leaderboard", "merge", "hf-hub:me/never-pushed", "--out", str(tmp_path / "m"), env=env)
    assert "me/never-pushed" in _one_error_line(res)
