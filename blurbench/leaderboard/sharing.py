"""Share leaderboards: push a run to a Hub dataset repo, merge runs from several directories or Hub repos.

A *run* is what ``blurbench evaluate --out DIR`` writes: ``results.jsonl`` (per-sample rows), ``provenance.json``,
``cost.json``, ``leaderboard.{md,csv,json,html}``. :func:`push` uploads those files (and a dataset card) in one
commit. :func:`merge` reads runs — folders, or ``hf-hub:ORG/NAME[@REV]`` dataset repos pinned to the commit they
resolve to — and combines their rows, each stamped with the run it came from (``run``), into one leaderboard.

A sample is identified by (method, dataset, split, id). The same sample in two runs with equal metrics (compared
to 1e-9 relative: the same code on another machine may round differently) is one row, the first run's, seconds
included. With different metrics it is a *conflict*: it is listed and never averaged, and nothing is written unless
``prefer`` names the run that wins. A dataset scored on several splits becomes one dataset per split
(``motion-val``), so that test and validation rows never share a mean.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blurbench.errors import ConfigError, DataError
from blurbench.hub import HUB_PREFIX, download, parse_hub_source, upload
from blurbench.io import atomic_write_json
from blurbench.leaderboard.assets import ASSET_DIR, safe_id
from blurbench.leaderboard.cost import COST_FILE, load_costs
from blurbench.leaderboard.report import write_report
from blurbench.leaderboard.table import summarize, write_leaderboard
from blurbench.results import ResultsStore

#: the files of a run that are pushed and read back, in this order (results.jsonl is the one required)
RUN_FILES = ("results.jsonl", "provenance.json", COST_FILE, "leaderboard.json", "leaderboard.md", "leaderboard.csv",
             "leaderboard.html")
MERGE_FILE = "merge.json"
REPO_TYPE = "dataset"
SampleKey = tuple[str, str, str, str]  # method, dataset, split, id


# ------------------------------------------------------------------------------------------------- push
def _dataset_card(directory: Path, repo_id: str) -> str:
    """README.md of the dataset repo: the Hub's viewer reads results.jsonl; the body is the run's leaderboard."""
    body = (directory / "leaderboard.md").read_text() if (directory / "leaderboard.md").is_file() else ""
    return ("---\ntags:\n- blurbench\n- leaderboard\nconfigs:\n- config_name: default\n  data_files: results.jsonl\n"
            "---\n\n"
            f"A blurbench evaluation run: per-sample rows (`results.jsonl`: method, dataset, id, metrics, seconds), "
            f"`provenance.json` (code commit, config and weights digests, device per method and dataset), tables "
            f"(`leaderboard.md/.csv/.json`) and the self-contained report `leaderboard.html`.\n\n"
            f"Combine it with other runs: `blurbench leaderboard merge {HUB_PREFIX}{repo_id} OTHER_RUN --out DIR`.\n\n"
            + body)


def push(directory: str | Path, repo_id: str, *, private: bool | None = None, token: str | None = None,
         commit_message: str | None = None) -> str:
    """Upload the run in ``directory`` to the Hub dataset repo ``repo_id`` (created if new); returns the commit URL."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such directory", "pass the --out directory of `blurbench evaluate`")
    if not (directory / "results.jsonl").is_file():
        raise DataError(f"{directory}: no results.jsonl here", "pass the --out directory of a finished "
                        "`blurbench evaluate` (an interrupted one: re-run it to finish)")
    missing = [n for n in RUN_FILES if n.startswith("leaderboard.") and not (directory / n).is_file()]
    if missing:
        raise DataError(f"{directory}: no {', '.join(missing)}",
                        f"write them first: `blurbench leaderboard --from {directory} --html {directory}`")
    parse_hub_source(repo_id)  # one line for a malformed id, before any request
    files: dict[str, Path | bytes] = {n: directory / n for n in RUN_FILES if (directory / n).is_file()}
    files["README.md"] = _dataset_card(directory, repo_id).encode()
    return upload(repo_id, files, repo_type=REPO_TYPE, private=private, token=token,
                  commit_message=commit_message or f"blurbench: leaderboard run {directory.name}")


# ------------------------------------------------------------------------------------------------ read
@dataclass
class Run:
    """One source of a merge, read whole."""

    label: str  # as given; Hub repos pinned: hf-hub:ORG/NAME@COMMIT
    rows: list[dict[str, Any]]
    provenance: dict[str, Any]
    info: dict[str, dict[str, str]]  # dataset -> protocol, split (from its leaderboard.json)
    costs: dict[str, Any]
    folder: Path  # where its files are (the Hub cache's snapshot folder for a repo)


def _dataset_info(folder: Path) -> dict[str, dict[str, str]]:
    path = folder / "leaderboard.json"
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text()).get("entries", [])
    except ValueError:
        raise DataError(f"{path}: not valid JSON", f"re-render it: `blurbench leaderboard --from {folder}`") from None
    return {e["dataset"]: {"protocol": e.get("protocol", ""), "split": e.get("split", "")} for e in entries
            if e.get("source") == "measured"}


def read_run(source: str) -> Run:
    """A run from a directory, or from ``hf-hub:ORG/NAME[@REV]`` (a dataset repo written by :func:`push`)."""
    if source.startswith(HUB_PREFIX):
        repo_id, revision = parse_hub_source(source)
        results = download(repo_id, "results.jsonl", repo_type=REPO_TYPE, revision=revision)
        assert results is not None
        commit = results.parent.name  # the cache's snapshot folder is named after the resolved commit
        for name in RUN_FILES[1:4]:  # the rest of what a merge reads, from the same commit
            download(repo_id, name, repo_type=REPO_TYPE, revision=commit, optional=True)
        folder, label = results.parent, f"{HUB_PREFIX}{repo_id}@{commit}"
    else:
        folder, label = Path(source), source
        if not folder.is_dir():
            raise DataError(f"{folder}: no such directory",
                            f"pass evaluate output directories or {HUB_PREFIX}ORG/NAME[@REV] dataset repos")
    store = ResultsStore(folder)
    if not store.results_path.is_file():
        raise DataError(f"{folder}: no results.jsonl here", "pass the --out directory of `blurbench evaluate`")
    return Run(label, store.load(), store.load_provenance(), _dataset_info(folder), load_costs(folder), folder)


# ----------------------------------------------------------------------------------------------- merge
@dataclass
class Conflict:
    """One sample measured differently by two runs; ``kept`` is the run whose row the merge keeps (None: none yet)."""

    key: SampleKey
    runs: tuple[str, str]
    metrics: tuple[dict[str, float], dict[str, float]]
    kept: str | None = None

    def line(self) -> str:
        method, dataset, split, item = self.key
        diffs = ", ".join(f"{k} {self.metrics[0].get(k)} vs {self.metrics[1].get(k)}"
                          for k in sorted(set(self.metrics[0]) | set(self.metrics[1]))
                          if not _same_value(self.metrics[0].get(k), self.metrics[1].get(k)))
        kept = f" -> kept {self.kept}" if self.kept else ""
        return (f"conflict: {method} on {dataset} [{split or '-'}] {item}: {self.runs[0]} vs {self.runs[1]}: "
                f"{diffs}{kept}")


@dataclass
class Merged:
    runs: list[Run]
    rows: list[dict[str, Any]]
    conflicts: list[Conflict] = field(default_factory=list)
    duplicates: int = 0

    @property
    def unresolved(self) -> list[Conflict]:
        return [c for c in self.conflicts if c.kept is None]


def _same_value(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _same_metrics(a: dict[str, float], b: dict[str, float]) -> bool:
    return set(a) == set(b) and all(_same_value(a[k], b[k]) for k in a)


def _winner(prefer: str | None, old: str, new: str) -> str | None:
    """The run that wins a conflict between ``old`` (earlier on the command line) and ``new``: ``prefer`` is a
    source as given, ``first`` or ``last``."""
    if prefer == "first":
        return old
    if prefer == "last":
        return new
    if prefer is None:
        return None
    return prefer if prefer in (old, new) else None


def merge_runs(sources: list[str], prefer: str | None = None) -> Merged:
    """Read every source and combine their rows (see the module docstring). Conflicts ``prefer`` does not settle
    stay in :attr:`Merged.unresolved` (their first run's row is kept meanwhile)."""
    if not sources:
        raise ConfigError("nothing to merge", "pass run directories or hf-hub:ORG/NAME[@REV] dataset repos")
    if len(set(sources)) != len(sources):
        raise ConfigError("a source is named twice", "name each run once")
    runs = [read_run(s) for s in sources]
    if prefer not in (None, "first", "last"):
        match = [r.label for s, r in zip(sources, runs) if prefer in (s, r.label)]
        if not match:
            raise ConfigError(f"--prefer {prefer}: not one of the sources", "give a source exactly as listed, "
                              "or first/last (order on the command line)")
        prefer = match[0]
    kept: dict[SampleKey, dict[str, Any]] = {}
    result = Merged(runs, [])
    for run in runs:
        for row in run.rows:
            split = run.info.get(row["dataset"], {}).get("split", "")
            key = (row["method"], row["dataset"], split, str(row["id"]))
            new = {**row, "split": split, "run": run.label}
            old = kept.get(key)
            if old is None:
                kept[key] = new
            elif _same_metrics(old["metrics"], new["metrics"]) and old.get("task") == new.get("task"):
                result.duplicates += 1
            else:
                winner = _winner(prefer, old["run"], run.label)
                result.conflicts.append(Conflict(key, (old["run"], run.label), (old["metrics"], row["metrics"]),
                                                 winner))
                if winner == run.label:
                    kept[key] = new
    result.rows = list(kept.values())
    return result


def _split_names(rows: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(dataset, split) -> the dataset's name in the merged leaderboard: itself, or ``dataset-split`` when the runs
    scored it on more than one split."""
    splits: dict[str, set[str]] = {}
    for r in rows:
        splits.setdefault(r["dataset"], set()).add(r["split"])
    return {(d, s): d if len(ss) == 1 else f"{d}-{s or 'unknown'}" for d, ss in splits.items() for s in ss}


def _joined(values: list[Any]) -> Any:
    """The one value all runs agree on, else every distinct value, joined with " | "."""
    distinct = list({json.dumps(v, sort_keys=True, default=str): v for v in values}.values())
    return distinct[0] if len(distinct) == 1 else " | ".join(str(v) for v in distinct)


def write_merged(merged: Merged, out: str | Path, title: str | None = None) -> str:
    """Write the merged run to ``out`` (results.jsonl with each row's ``run``, provenance.json, cost.json,
    merge.json, leaderboard.{md,csv,json,html}); returns the markdown. Refuses while conflicts are unresolved."""
    if merged.unresolved:
        raise ConfigError(f"{len(merged.unresolved)} sample(s) measured differently by two runs (listed above); "
                          "nothing was written", "pass --prefer SOURCE (or first/last) to say which run wins, "
                          "or merge runs of the same code and data")
    out = Path(out)
    names = _split_names(merged.rows)
    rows = [{**r, "dataset": names[(r["dataset"], r["split"])]} for r in merged.rows]
    by_label = {r.label: r for r in merged.runs}
    contributors: dict[tuple[str, str], list[str]] = {}  # (method, merged dataset) -> runs, first seen first
    original: dict[str, str] = {}  # merged dataset -> dataset name in its runs
    for old, new in zip(merged.rows, rows):
        runs = contributors.setdefault((new["method"], new["dataset"]), [])
        if new["run"] not in runs:
            runs.append(new["run"])
        original[new["dataset"]] = old["dataset"]
    provenance: dict[str, Any] = {}
    costs: dict[str, Any] = {}
    info: dict[str, dict[str, str]] = {}
    for (method, dataset), runs in contributors.items():
        key = f"{method}/{original[dataset]}"
        records = [by_label[r].provenance.get(key, {}) for r in runs]
        fields = list(dict.fromkeys(k for rec in records for k in rec))
        provenance[f"{method}/{dataset}"] = {**{k: _joined([rec.get(k) for rec in records if k in rec])
                                                for k in fields}, "run": " | ".join(runs)}
        cost = next((by_label[r].costs[key] for r in runs if key in by_label[r].costs), None)
        if cost:
            costs[f"{method}/{dataset}"] = cost
        split = next(r["split"] for r in rows if r["dataset"] == dataset)
        protocols = [by_label[r].info.get(original[dataset], {}).get("protocol", "") for r in runs]
        info[dataset] = {"split": split, "protocol": _joined(sorted({p for p in protocols if p}) or [""])}
    store = ResultsStore(out)
    store.write(rows)
    atomic_write_json(store.provenance_path, provenance)
    atomic_write_json(out / COST_FILE, costs)
    atomic_write_json(out / MERGE_FILE, {
        "sources": [{"source": r.label, "folder": str(r.folder), "rows": len(r.rows)} for r in merged.runs],
        "rows": len(rows), "identical_duplicates_dropped": merged.duplicates,
        "conflicts": [{"method": c.key[0], "dataset": c.key[1], "split": c.key[2], "id": c.key[3], "runs": c.runs,
                       "metrics": c.metrics, "kept": c.kept} for c in merged.conflicts]})
    _copy_pictures(merged, rows, original, out)
    entries = summarize(rows, provenance, info, costs=costs)
    title = title or "blurbench — merged: " + ", ".join(r.label for r in merged.runs)
    markdown = write_leaderboard(out, entries, title)
    write_report(out, entries, rows, title)
    return markdown


def _copy_pictures(merged: Merged, rows: list[dict[str, Any]], original: dict[str, str], out: Path) -> None:
    """The report pictures of each (method, dataset), from the first run that has them among those its rows came
    from (runs read from folders: a Hub run's pictures are inside its leaderboard.html only)."""
    by_label = {r.label: r for r in merged.runs}
    sources: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        runs = sources.setdefault((row["method"], row["dataset"]), [])
        if row["run"] not in runs:
            runs.append(row["run"])
    for (method, dataset), runs in sources.items():
        dst = out / ASSET_DIR / dataset
        for label in runs:
            src = by_label[label].folder / ASSET_DIR / original[dataset]
            if (src / safe_id(method)).is_dir() and src.resolve() != dst.resolve():
                shutil.copytree(src / safe_id(method), dst / safe_id(method), dirs_exist_ok=True)
                if (src / "_inputs").is_dir():
                    shutil.copytree(src / "_inputs", dst / "_inputs", dirs_exist_ok=True)
                break
