"""Leaderboard tables: means per (task, method, dataset) from per-sample rows, rendered to md/csv/json.

Means are computed from the per-sample rows only (never from per-process averages), so they are exact
whatever the number of devices. Published numbers (from papers) render beside measured ones and are
always marked ``published``.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from blurbench.io import atomic_write_json, atomic_write_text
from blurbench.leaderboard.bootstrap import DESCRIPTION as INTERVALS_DESCRIPTION
from blurbench.leaderboard.bootstrap import intervals
from blurbench.metrics.conventions import CONVENTIONS, METRIC_INFO


def summarize(rows: list[dict[str, Any]], provenance: dict[str, Any] | None = None,
              datasets_info: dict[str, dict[str, str]] | None = None,
              costs: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One entry per (task, method, dataset): sample count, mean of every metric, mean seconds, bootstrap
    intervals (``ci``, and ``vs`` the task's reference and the best method; see :mod:`.bootstrap`) and the
    method's cost (``costs["method/dataset"]``, or read from the provenance record)."""
    cis = intervals(rows, higher_is_better={k: v[1] for k, v in METRIC_INFO.items()})
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row.get("task", "deblurring"), row["method"], row["dataset"])].append(row)
    entries = []
    for (task, method, dataset), items in groups.items():
        metrics: dict[str, float] = {}
        for name in sorted({k for r in items for k in r["metrics"]}):
            values = [r["metrics"][name] for r in items if name in r["metrics"]]
            metrics[name] = math.fsum(values) / len(values)
        info = (datasets_info or {}).get(dataset, {})
        entries.append({
            "task": task, "method": method, "dataset": dataset, "source": "measured",
            "protocol": info.get("protocol", ""), "split": info.get("split", ""),
            "n": len(items), "metrics": metrics,
            "seconds": math.fsum(r["seconds"] for r in items) / len(items),
            "provenance": (provenance or {}).get(f"{method}/{dataset}", {}),
            **cis.get((task, method, dataset), {}),
        })
        cost = (costs or {}).get(f"{method}/{dataset}") or entries[-1]["provenance"].get("cost")
        if cost:
            entries[-1]["cost"] = cost
    return sort_entries(entries)


def _primary(entry: dict[str, Any]) -> float:
    for name, (_, higher, _) in METRIC_INFO.items():
        if name in entry["metrics"]:
            value = entry["metrics"][name]
            return -value if higher else value
    return 0.0


def sort_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: (e["task"], e["dataset"], e["source"] != "measured", _primary(e)))


def _metric_columns(entries: list[dict[str, Any]]) -> list[str]:
    present = {k for e in entries for k in e["metrics"]}
    return [m for m in METRIC_INFO if m in present] + sorted(present - set(METRIC_INFO))


def _fmt(name: str, value: float | None) -> str:
    if value is None:
        return "–"
    return METRIC_INFO.get(name, ("", True, "{:.4g}"))[2].format(value)


def fmt_count(n: float | None) -> str:
    """A parameter or MAC count in engineering units (1.2K, 3.4M, 5.6G); "–" when unknown."""
    if n is None:
        return "–"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}" if n else "0"


def source_label(e: dict[str, Any]) -> str:
    """``measured``, or ``published`` with the table it is copied from (every paper number names its table)."""
    if e["source"] == "measured":
        return "measured"
    ref = e.get("reference", "")
    return f"{e['source']} ({ref})" if ref else e["source"]


def cost_cells(e: dict[str, Any]) -> list[str]:
    cost = e.get("cost") or {}
    return [f"{e['seconds']:.3f}" if e.get("seconds") is not None else "–", fmt_count(cost.get("params")),
            fmt_count(cost.get("macs")), cost.get("input", "–")]


COST_HEADER = ["s/sample", "Params", "MACs", "MACs input"]
COST_NOTE = ("Cost: s/sample is measured wall time; Params counts the module's parameters (frozen networks included); "
             "MACs are counted by torch's FlopCounterMode on one sample of the stated input size (N×C×H×W, video "
             "T×C×H×W), for methods with a learned network only ('–' otherwise) — convolutions and matrix products: "
             "FFTs, OpenCV and element-wise work are not counted, so a solver around a network shows the network's "
             "share.")


def _fmt_delta(name: str, d: dict[str, Any] | None, is_self: bool) -> str:
    if d is None:
        return "–"
    if is_self:
        return "(itself)"
    f = METRIC_INFO.get(name, ("", True, "{:.4g}"))[2]
    sign = f"{'+' if d['diff'] >= 0 else '−'}{f.format(abs(d['diff']))}"
    if d["lo"] is None:
        return f"{sign} (1 unit: no interval)"
    text = f"{sign} [{f.format(d['lo'])}, {f.format(d['hi'])}]"
    return text.replace("[-", "[−").replace(", -", ", −") + (" tie" if d["tie"] else "")


def render_intervals(rows: list[dict[str, Any]], cols: list[str]) -> list[str]:
    """Markdown lines: each measured method's means with 95% intervals and its paired difference (first metric)
    to the task's reference and to the best method."""
    measured = [e for e in rows if e["source"] == "measured" and "ci" in e]
    if not measured or not cols:  # no metric (real blur, no ground truth): nothing to give an interval to
        return []
    primary = cols[0]
    title = METRIC_INFO.get(primary, (primary,))[0]
    refs = sorted({e.get("vs", {}).get("reference", {}).get("method") for e in measured} - {None})
    header = ["Dataset", "Method", "n"] + [f"{METRIC_INFO.get(c, (c,))[0]} [95% CI]" for c in cols]
    header += [f"Δ {title} vs {'/'.join(refs) or 'reference'}", f"Δ {title} vs best"]
    lines = ["", f"Intervals ({INTERVALS_DESCRIPTION}; published rows have none; every metric in the .csv/.json):",
             "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for e in measured:
        cells = [e["dataset"], e["method"], str(e["n"])]
        for c in cols:
            ci = e["ci"].get(c)
            cells.append(f"{_fmt(c, e['metrics'].get(c))} [{_fmt(c, ci[0])}, {_fmt(c, ci[1])}]" if ci else "–")
        for label in ("reference", "best"):
            vs = e.get("vs", {}).get(label)
            cells.append(_fmt_delta(primary, vs.get(primary) if vs else None, bool(vs) and vs["method"] == e["method"]))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(entries: list[dict[str, Any]], title: str = "Leaderboard") -> str:
    lines = [f"# {title}", ""]
    for task in sorted({e["task"] for e in entries}):
        rows = [e for e in entries if e["task"] == task]
        cols = _metric_columns(rows)
        lines += [f"## {task}", ""]
        header = ["Dataset", "Split", "Method", "Source", "n"] + [METRIC_INFO.get(c, (c,))[0] for c in cols]
        header += COST_HEADER
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for e in rows:
            cells = [e["dataset"], e.get("split", ""), e["method"], source_label(e),
                     str(e["n"]) if e.get("n") else "–"]
            cells += [_fmt(c, e["metrics"].get(c)) for c in cols]
            cells += cost_cells(e)
            lines.append("| " + " | ".join(cells) + " |")
        protocols = sorted({(e["dataset"], e["protocol"]) for e in rows if e.get("protocol")})
        if protocols:
            lines += ["", "Protocols: " + "; ".join(f"{d}: {p}" for d, p in protocols) + "."]
        lines += render_intervals(rows, cols)
        lines.append("")
    lines += ["## Conventions", ""] + [f"- {k.upper()}: {v}" for k, v in CONVENTIONS.items()]
    lines += [f"- Intervals: {INTERVALS_DESCRIPTION}", f"- {COST_NOTE}", ""]
    measured = [e for e in entries if e["source"] == "measured" and e.get("provenance")]
    if measured:
        lines += ["## Provenance", "", "| Method | Dataset | blurbench | commit | config | weights sha256 | device | "
                  "torch | date |", "|---|---|---|---|---|---|---|---|---|"]
        for e in measured:
            p = e["provenance"]
            sha = p.get("weights_sha256", "none")
            lines.append(f"| {e['method']} | {e['dataset']} | {p.get('blurbench', '')} | {p.get('commit', '')} | "
                         f"{p.get('config_hash', '')} | {sha[:16] if sha != 'none' else 'none'} | "
                         f"{p.get('device', '')} | {p.get('torch', '')} | {p.get('date', '')} |")
        lines.append("")
    carded = sorted({e.get("reference", "") for e in entries if e["source"] == "model card"})
    if carded:
        lines += ["Rows from model cards were measured with blurbench by the model's publisher (" + "; ".join(carded)
                  + "); the weights sha256 they were measured with is in each card.", ""]
    published = [e for e in entries if e["source"] == "published"]
    if published:
        lines += ["Published rows are copied from the papers, each naming its table (line numbers of the seed text in "
                  "`blurbench/leaderboard/published.yaml`); values a paper itself took from other papers (printed in "
                  "parentheses there) say so. Their metric conventions are the papers' own; they have no per-sample "
                  "values, hence no intervals.", ""]
    return "\n".join(lines)


def render_csv(entries: list[dict[str, Any]]) -> str:
    cols = _metric_columns(entries)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    prov_keys = ["blurbench", "commit", "config_hash", "weights_sha256", "device", "torch", "date"]
    ci_cols = [f"{c}_{k}" for c in cols for k in ("lo", "hi")]
    vs_cols = [f"{c}_vs_{label}_{k}" for label in ("reference", "best") for c in cols
               for k in ("diff", "lo", "hi", "tie")]
    writer.writerow(["task", "dataset", "split", "protocol", "method", "source", "reference", "n", *cols, "seconds",
                     "params", "macs", "macs_input", *ci_cols, "reference_method", "best_method", *vs_cols,
                     *prov_keys])
    for e in entries:
        cost = e.get("cost") or {}
        ci = [(e.get("ci") or {}).get(c, ["", ""])[i] for c in cols for i in (0, 1)]
        vs = e.get("vs") or {}
        vs_cells = [(vs.get(label) or {}).get(c, {}).get(k, "") for label in ("reference", "best") for c in cols
                    for k in ("diff", "lo", "hi", "tie")]
        writer.writerow([e["task"], e["dataset"], e.get("split", ""), e.get("protocol", ""), e["method"], e["source"],
                         e.get("reference", ""), e.get("n", ""), *[e["metrics"].get(c, "") for c in cols],
                         e.get("seconds", ""), cost.get("params", ""), cost.get("macs", ""), cost.get("input", ""),
                         *ci, (vs.get("reference") or {}).get("method", ""), (vs.get("best") or {}).get("method", ""),
                         *vs_cells, *[e.get("provenance", {}).get(k, "") for k in prov_keys]])
    return buf.getvalue()


def write_leaderboard(out_dir: str | Path, entries: list[dict[str, Any]], title: str, stem: str = "leaderboard"
                      ) -> str:
    """Write ``<stem>.md``, ``.csv`` and ``.json`` atomically; returns the markdown."""
    out_dir = Path(out_dir)
    markdown = render_markdown(entries, title)
    atomic_write_text(out_dir / f"{stem}.md", markdown)
    atomic_write_text(out_dir / f"{stem}.csv", render_csv(entries))
    atomic_write_json(out_dir / f"{stem}.json", {"title": title, "conventions": CONVENTIONS,
                                                 "intervals": INTERVALS_DESCRIPTION, "cost": COST_NOTE,
                                                 "entries": entries})
    return markdown


def render_terminal(entries: list[dict[str, Any]], max_metrics: int = 2) -> str:
    """A compact summary for the terminal: per task, method, dataset, n, the main metrics with their 95% intervals
    and s/sample, aligned in columns. Full provenance stays in the files."""
    lines: list[str] = []
    for task in sorted({e["task"] for e in entries}):
        rows = [e for e in entries if e["task"] == task and e["source"] == "measured"]
        if not rows:
            continue
        cols = _metric_columns(rows)[:max_metrics]
        table = [["method", "dataset", "n"] + [METRIC_INFO.get(c, (c,))[0] + " [95% CI]" for c in cols]
                 + ["s/sample"]]
        for e in rows:
            cells = [e["method"], e["dataset"], str(e["n"])]
            for c in cols:
                v, ci = e["metrics"].get(c), (e.get("ci") or {}).get(c)
                cells.append(_fmt(c, v) + (f" [{_fmt(c, ci[0])}, {_fmt(c, ci[1])}]" if ci else ""))
            cells.append(f"{e['seconds']:.3f}" if e.get("seconds") is not None else "–")
            table.append(cells)
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        lines += [task] + ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table] + [""]
    return "\n".join(lines)
