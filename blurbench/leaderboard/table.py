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
from blurbench.metrics.image import PSNR_CONVENTION, SSIM_CONVENTION

#: metric name -> (column title, higher is better, format)
METRIC_INFO: dict[str, tuple[str, bool, str]] = {
    "psnr": ("PSNR (dB)", True, "{:.2f}"),
    "ssim": ("SSIM", True, "{:.4f}"),
    "reblur_psnr": ("Reblur PSNR (dB)", True, "{:.2f}"),
    "kernel_error": ("Kernel error", False, "{:.5f}"),
    "ap": ("mAP", True, "{:.4f}"),
    "iou": ("IoU", True, "{:.4f}"),
    "f1": ("F1", True, "{:.4f}"),
    "epe": ("EPE (px)", False, "{:.3f}"),
    "epe_init": ("EPE of initial flow (px)", False, "{:.3f}"),
}
CONVENTIONS = {"psnr": PSNR_CONVENTION, "ssim": SSIM_CONVENTION}


def summarize(rows: list[dict[str, Any]], provenance: dict[str, Any] | None = None,
              datasets_info: dict[str, dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """One entry per (task, method, dataset): sample count, mean of every metric, mean seconds."""
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
        })
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


def render_markdown(entries: list[dict[str, Any]], title: str = "Leaderboard") -> str:
    lines = [f"# {title}", ""]
    for task in sorted({e["task"] for e in entries}):
        rows = [e for e in entries if e["task"] == task]
        cols = _metric_columns(rows)
        lines += [f"## {task}", ""]
        header = ["Dataset", "Split", "Method", "Source", "n"] + [METRIC_INFO.get(c, (c,))[0] for c in cols]
        header += ["s/sample"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for e in rows:
            cells = [e["dataset"], e.get("split", ""), e["method"], e["source"],
                     str(e["n"]) if e.get("n") else "–"]
            cells += [_fmt(c, e["metrics"].get(c)) for c in cols]
            cells += [f"{e['seconds']:.3f}" if e.get("seconds") is not None else "–"]
            lines.append("| " + " | ".join(cells) + " |")
        protocols = sorted({(e["dataset"], e["protocol"]) for e in rows if e.get("protocol")})
        if protocols:
            lines += ["", "Protocols: " + "; ".join(f"{d}: {p}" for d, p in protocols) + "."]
        lines.append("")
    lines += ["## Conventions", ""] + [f"- {k.upper()}: {v}" for k, v in CONVENTIONS.items()] + [""]
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
        refs = sorted({e.get("reference", "") for e in published if e.get("reference")})
        lines += ["Published rows are copied from the papers (" + "; ".join(refs) + "); their metric conventions "
                  "are the papers' own.", ""]
    return "\n".join(lines)


def render_csv(entries: list[dict[str, Any]]) -> str:
    cols = _metric_columns(entries)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    prov_keys = ["blurbench", "commit", "config_hash", "weights_sha256", "device", "torch", "date"]
    writer.writerow(["task", "dataset", "split", "protocol", "method", "source", "n", *cols, "seconds", *prov_keys])
    for e in entries:
        writer.writerow([e["task"], e["dataset"], e.get("split", ""), e.get("protocol", ""), e["method"], e["source"],
                         e.get("n", ""), *[e["metrics"].get(c, "") for c in cols], e.get("seconds", ""),
                         *[e.get("provenance", {}).get(k, "") for k in prov_keys]])
    return buf.getvalue()


def write_leaderboard(out_dir: str | Path, entries: list[dict[str, Any]], title: str, stem: str = "leaderboard"
                      ) -> str:
    """Write ``<stem>.md``, ``.csv`` and ``.json`` atomically; returns the markdown."""
    out_dir = Path(out_dir)
    markdown = render_markdown(entries, title)
    atomic_write_text(out_dir / f"{stem}.md", markdown)
    atomic_write_text(out_dir / f"{stem}.csv", render_csv(entries))
    atomic_write_json(out_dir / f"{stem}.json", {"title": title, "conventions": CONVENTIONS, "entries": entries})
    return markdown
