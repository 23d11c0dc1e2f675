"""Lazy registries: listing imports no heavy module, and the tables agree with the modules they name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from blurbench.datamodules.builtin import builtin_datasets
from blurbench.datamodules.catalog import checkers
from blurbench.datamodules.registry import datasets, suites
from blurbench.lazy import load_target, target_name
from blurbench.tasks.registry import methods

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "lightning", "torchvision", "cv2", "scipy")


@pytest.mark.parametrize("argv", [["--help"], ["zoo", "list"], ["data", "list"], ["methods"], ["methods", "--json"]])
def test_listing_imports_no_heavy_module(argv: list[str]) -> None:
    """The listing commands read names and metadata only (start-up in well under 2 s instead of ~10 s)."""
    code = ("import sys\nfrom blurbench.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip(), "the command printed nothing"
    assert "HEAVY []" in out.stderr, out.stderr[-500:]


def test_method_targets_hash_as_the_objects_they_name() -> None:
    """A ``"module:Class"`` factory hashes (config_hash, provenance) as the class it names."""
    for m in methods():
        obj = load_target(m.factory)
        assert target_name(m.factory) == f"{obj.__module__}.{obj.__qualname__}", m.name
        assert obj.task == m.task and obj.data_kind == m.data_kind, m.name


def test_config_hashes_match_the_committed_leaderboard() -> None:
    """Provenance is unchanged by the lazy registry: every method of leaderboards/builtin.json has its hash."""
    committed = {e["method"]: e["provenance"]["config_hash"]
                 for e in json.loads((REPO / "leaderboards" / "builtin.json").read_text())["entries"]
                 if isinstance(e.get("provenance"), dict) and "config_hash" in e["provenance"]}
    ours = {m.name: m.config_hash() for m in methods()}
    shared = committed.keys() & ours.keys()
    assert len(shared) >= 15
    assert {n: ours[n] for n in shared} == {n: committed[n] for n in shared}


def test_dataset_table_agrees_with_the_modules() -> None:
    """kind, gt_field and the built-in descriptions are repeated in datasets.py: they must say what the classes say."""
    generated = builtin_datasets()
    assert set(generated) == {s.name for s in datasets("builtin")}
    for suite in suites():
        for spec in datasets(suite):
            obj = load_target(spec.target)
            if isinstance(obj, type):
                assert spec.kind == obj.kind, spec.name
                assert spec.gt_field == getattr(obj, "gt_field", False), spec.name
            elif spec.suite == "builtin":  # a built-in suite factory
                assert (spec.kind, spec.description) == (generated[spec.name].kind, generated[spec.name].description)
            dm = spec.factory(None if not spec.needs_root else REPO / "no-such-dataset")
            assert dm.name == spec.name
            if not isinstance(obj, type) and spec.suite != "builtin":  # another factory (real blur): its product's kind
                assert dm.kind == spec.kind, spec.name
    from blurbench.datamodules.realblur import TELE_FOLDERS

    assert {n for n in checkers() if n.endswith("-tele") and n != "realblur-tele"} == {
        f"realblur-{c.lower()}-tele" for c in TELE_FOLDERS}


def test_every_checker_and_download_resolves() -> None:
    from blurbench.datamodules.download import downloads

    for checker in checkers().values():
        assert callable(checker.factory), checker.name
    # the dataset modules register their download recipes at import: every family with a recipe is a check name
    assert set(downloads()) <= set(checkers())
