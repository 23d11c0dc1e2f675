"""Render leaderboards from evaluate outputs and model cards, beside the published numbers.

Regenerating the committed ``leaderboards/`` (and the README table) is a developer command of the checkout:
:mod:`blurbench.regenerate`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from blurbench.errors import DataError
from blurbench.leaderboard.assets import ASSET_DIR
from blurbench.leaderboard.cost import load_costs
from blurbench.leaderboard.report import write_report
from blurbench.leaderboard.table import render_markdown, sort_entries, summarize, write_leaderboard
from blurbench.results import ResultsStore
from blurbench.zoo.cards import entries_from_card


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
        for e in json.loads(old.read_text()).get("entries", []):
            info[e["dataset"]] = {"protocol": e.get("protocol", ""), "split": e.get("split", "")}
    entries = summarize(rows, store.load_provenance(), info, costs=load_costs(source))
    title = f"blurbench — {Path(source).name}"
    markdown = write_leaderboard(out or source, entries, title=title)
    if html is not None:
        Path(html).mkdir(parents=True, exist_ok=True)
        write_report(html, entries, rows, title, assets=Path(source) / ASSET_DIR)
    return markdown


def render_from_cards(sources: list[str | Path], out: str | Path | None = None) -> str:
    """Entries of every card in ``sources`` as a leaderboard (written to ``out`` if given); returns markdown."""
    entries = sort_entries([e for s in sources for e in entries_from_card(s)])
    title = "Results from model cards"
    return write_leaderboard(out, entries, title) if out else render_markdown(entries, title)
