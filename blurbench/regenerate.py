"""``blurbench leaderboard --regenerate``: the developer command that rewrites the checkout's leaderboards.

It re-runs the built-in suite with every leaderboard method from scratch, writes ``leaderboards/`` (tables, HTML
report, published numbers) and, when that folder is the repository's own, the README table between its markers.
Writing into the repository is a step of the checkout, not of the library: it lives here, beside the CLI, above
:mod:`blurbench.evaluation` and :mod:`blurbench.leaderboard`.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from blurbench.evaluation import evaluate
from blurbench.io import atomic_write_text
from blurbench.leaderboard.assets import ASSET_DIR
from blurbench.leaderboard.publish import published_entries
from blurbench.leaderboard.report import write_report
from blurbench.leaderboard.table import sort_entries, write_leaderboard
from blurbench.results import ResultsStore
from blurbench.tasks.registry import methods

README_START, README_END = "<!-- leaderboard:start -->", "<!-- leaderboard:end -->"
#: the checkout holding this package (its leaderboards/, runs/ and README.md)
REPO_ROOT = Path(__file__).resolve().parents[1]


def regenerate(out_dir: str | Path = "leaderboards", limit: int | None = None, run_dir: str | Path | None = None
               ) -> str:
    """Re-run the built-in suite with every method from scratch and rewrite ``out_dir`` and the README table."""
    run_dir = Path(run_dir or REPO_ROOT / "runs" / "leaderboard-builtin")
    shutil.rmtree(run_dir, ignore_errors=True)  # numbers must come from this code, never from stale rows
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
        atomic_write_text(readme, new)
