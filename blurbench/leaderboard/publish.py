"""Render leaderboards from evaluate outputs, and regenerate the committed ``leaderboards/`` in one command."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from blurbench.errors import DataError
from blurbench.leaderboard.assets import ASSET_DIR
from blurbench.leaderboard.cost import load_costs
from blurbench.leaderboard.report import write_report
from blurbench.leaderboard.table import sort_entries, summarize, write_leaderboard
from blurbench.results import ResultsStore

README_START, README_END = "<!-- leaderboard:start -->", "<!-- leaderboard:end -->"
REPO_ROOT = Path(__file__).resolve().parents[2]


def published_entries() -> list[dict[str, Any]]:
    """Paper numbers from ``published.yaml``, each marked ``source: published`` and naming its table.

    ``reference`` is the table ("Carbajal et al. 2021, Table 1"), with "value from another paper" appended when the
    paper printed it in parentheses / with a footnote; ``seed``/``line`` locate it in the seed text.
    """
    raw = yaml.safe_load(resources.files("blurbench.leaderboard").joinpath("published.yaml").read_text())
    entries = []
    for e in raw:
        reference = e["reference"] + ("; value from another paper" if e.get("from_other_paper") else "")
        entries.append({"task": e["task"], "dataset": e["dataset"], "split": e.get("split", ""),
                        "protocol": "as published", "method": e["method"], "source": "published", "n": None,
                        "metrics": e["metrics"], "seconds": None, "reference": reference,
                        "seed": e.get("seed", ""), "line": e.get("line"), "note": e.get("note", "")})
    return entries


def render_from(source: str | Path, out: str | Path | None = None, html: str | Path | None = None) -> str:
    """Re-render ``leaderboard.{md,csv,json}`` (into ``out``, default ``source``) from an evaluate directory, and
    ``leaderboard.html`` into ``html`` when given (pictures from ``source/report``)."""
    store = ResultsStore(source)
    if not store.results_path.is_file() and not store.partial_files():
        raise DataError(f"{store.results_path}: no results here", "pass the --out directory of `blurbench evaluate`")
    rows = store.load()
    old = Path(source) / "leaderboard.json"
    info: dict[str, dict[str, str]] = {}
    if old.is_file():  # keep protocol/split names recorded by evaluate
        import json

        for e in json.loads(old.read_text()).get("entries", []):
            info[e["dataset"]] = {"protocol": e.get("protocol", ""), "split": e.get("split", "")}
    entries = summarize(rows, store.load_provenance(), info, costs=load_costs(source))
    title = f"blurbench — {Path(source).name}"
    markdown = write_leaderboard(out or source, entries, title=title)
    if html is not None:
        Path(html).mkdir(parents=True, exist_ok=True)
        write_report(html, entries, rows, title, assets=Path(source) / ASSET_DIR)
    return markdown


def regenerate(out_dir: str | Path = "leaderboards", limit: int | None = None, run_dir: str | Path | None = None
               ) -> str:
    """Re-run the built-in suite with every method from scratch and rewrite ``out_dir`` and the README table."""
    from blurbench.evaluation import evaluate

    run_dir = Path(run_dir or REPO_ROOT / "runs" / "leaderboard-builtin")
    shutil.rmtree(run_dir, ignore_errors=True)  # numbers must come from this code, never from stale rows
    from blurbench.tasks.registry import methods

    names = [m.name for m in methods() if m.in_leaderboard and not m.missing_weights()]
    measured = evaluate("builtin", names, None, run_dir, limit=limit, progress=False)
    # Paper numbers of the same tasks render beside ours (marked "published"), so both are read at once.
    tasks = {e["task"] for e in measured}
    entries = sort_entries(measured + [e for e in published_entries() if e["task"] in tasks])
    out_dir = Path(out_dir)
    title = "blurbench — built-in suite (measured) beside published numbers"
    markdown = write_leaderboard(out_dir, entries, title, stem="builtin")
    write_report(out_dir, entries, ResultsStore(run_dir).load(), title, name="builtin.html",
                 assets=run_dir / ASSET_DIR)
    write_leaderboard(out_dir, sort_entries(published_entries()), "Published numbers (from the papers)",
                      stem="published")
    if out_dir.resolve() == (REPO_ROOT / "leaderboards").resolve():
        update_readme(markdown)
    return markdown


def update_readme(markdown: str, readme: Path = REPO_ROOT / "README.md") -> None:
    """Put a rendered leaderboard (its sections one level down) between the README's leaderboard markers."""
    if not readme.is_file():
        return
    text = readme.read_text()
    body = markdown.split("\n", 2)[2] if markdown.startswith("# ") else markdown
    body = ("\n" + body.strip()).replace("\n## ", "\n### ").strip()
    new = re.sub(f"{re.escape(README_START)}.*{re.escape(README_END)}",
                 lambda _: f"{README_START}\n{body}\n{README_END}", text, flags=re.S)
    if new != text:
        from blurbench.io import atomic_write_text

        atomic_write_text(readme, new)
