"""The HTML report: one self-contained file (inline CSS/JS/SVG, pictures as data URIs, no network request).

Per task and dataset: a sortable table (published rows marked, provenance one click away in a ``<details>``),
a quality-vs-seconds plot with the Pareto front, a strip plot of the per-image metric by method, and the pictures
the evaluation run kept (:mod:`.assets`): crops of blurry / each method / sharp where the methods differ most,
kernel grids and mixing maps, detection score maps and masks beside the ground truth, flow colour and σ maps.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from blurbench.io import atomic_write_text
from blurbench.leaderboard.assets import ASSET_DIR, safe_id
from blurbench.leaderboard.bootstrap import DESCRIPTION as INTERVALS_DESCRIPTION
from blurbench.leaderboard.table import COST_NOTE, METRIC_INFO, _fmt, _metric_columns, fmt_count

MAX_PICTURES = 4  # images per dataset shown in the visual comparison
CROP = 96  # side of the comparison crops (px, at most half the image's short side)

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1400px;padding:1em 2em;
color:#222}
h1{font-size:1.6em}h2{border-bottom:2px solid #ccc;margin-top:2em}h3{margin-top:1.5em}
table.lb{border-collapse:collapse;margin:.5em 0;font-size:13px}
table.lb th,table.lb td{border:1px solid #ddd;padding:3px 6px;text-align:right;vertical-align:top}
table.lb th{background:#f3f3f3;cursor:pointer;user-select:none}table.lb th:hover{background:#e6e6e6}
table.lb td.l,table.lb th.l{text-align:left}
tr.published td{background:#fff8e1;font-style:italic}
tr.best td.m{font-weight:bold}
span.badge{background:#f0b400;color:#fff;border-radius:3px;padding:0 4px;font-size:11px;font-style:normal}
span.tie{color:#888}span.ci{color:#777;font-size:11px}
details{font-size:11px;text-align:left}details pre{white-space:pre-wrap;max-width:40em;margin:0}
.figs{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
svg text{font:11px system-ui,sans-serif}
.pics{display:flex;flex-wrap:wrap;gap:4px;margin:.3em 0 1em}
.pics figure{margin:0;text-align:center;font-size:11px}
.pics img{display:block;image-rendering:pixelated;border:1px solid #ccc}
.note{color:#555;font-size:12px}
"""

JS = """
document.querySelectorAll('table.lb').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
      var asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
      rows.sort(function(a,b){
        var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v;
        var nx=parseFloat(x),ny=parseFloat(y);
        if(x===''||x===undefined){return 1;} if(y===''||y===undefined){return -1;}
        var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:String(x).localeCompare(String(y));
        return asc?c:-c;});
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
document.body.setAttribute('data-ready','1');
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def data_uri(image: np.ndarray, max_side: int | None = None) -> str:
    """An RGB uint8 image as an inline JPEG (quality 90), optionally shrunk to ``max_side``."""
    if max_side and max(image.shape[:2]) > max_side:
        scale = max_side / max(image.shape[:2])
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode() if ok else ""


def _read(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    arr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if arr is None else cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def crop_where_methods_differ(outputs: list[np.ndarray], size: int = CROP) -> tuple[int, int, int]:
    """(top, left, side) of the square window where the methods' outputs disagree most (largest mean of the
    per-pixel standard deviation across methods)."""
    h, w = outputs[0].shape[:2]
    side = max(8, min(size, h // 2, w // 2))
    if len(outputs) < 2:
        return (h - side) // 2, (w - side) // 2, side
    stack = np.stack([o.astype(np.float32) for o in outputs])
    spread = stack.std(axis=0).mean(axis=2)
    local = cv2.blur(spread, (side, side), borderType=cv2.BORDER_CONSTANT)
    half = side // 2
    inner = local[half:h - side + half + 1, half:w - side + half + 1]  # windows fully inside the image
    r, c = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(r), int(c), side


# ------------------------------------------------------------------------------------------------ SVG plots
def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    return [t * step for t in range(math.ceil(lo / step), math.floor(hi / step) + 1)]


def pareto_front(points: list[tuple[float, float]], higher: bool = True) -> list[int]:
    """Indices of the (seconds, quality) points no other point beats on both, fastest first."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1] if higher else points[i][1]))
    front, best = [], -math.inf
    for i in order:
        q = points[i][1] if higher else -points[i][1]
        if q > best:
            front.append(i)
            best = q
    return front


LABEL_CHAR_WIDTH, LABEL_HEIGHT = 6.2, 12.0  # px of an 11 px system-ui label: an upper bound of a character's width


def label_positions(points: list[tuple[float, float, str]], width: float, top: float, bottom: float
                    ) -> list[tuple[float, float, str]]:
    """(x, baseline y, text-anchor) of each point's label so that no two labels overlap: right of the point (left
    when it would leave the plot), moved down/up by a line at a time until its box is free."""
    placed: list[tuple[float, float, float, float]] = []
    out: list[tuple[float, float, str]] = [(0.0, 0.0, "start")] * len(points)
    for i in sorted(range(len(points)), key=lambda i: (points[i][1], points[i][0])):
        x, y, text = points[i]
        w = LABEL_CHAR_WIDTH * len(text)
        right = x + 7 + w <= width
        x0 = x + 7 if right else x - 7 - w
        for k in range(80):
            dy = ((k + 1) // 2) * LABEL_HEIGHT * (1 if k % 2 else -1)  # 0, +1, -1, +2, -2, ... lines
            base = y + 4 + dy
            box = (x0, base - LABEL_HEIGHT + 2, x0 + w, base + 2)
            if box[1] < top - LABEL_HEIGHT or box[3] > bottom + LABEL_HEIGHT:
                continue
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        out[i] = (x + 7 if right else x - 7, base, "start" if right else "end")
    return out


def quality_vs_seconds_svg(entries: list[dict[str, Any]], metric: str) -> str:
    pts = [(e["method"], max(float(e["seconds"]), 1e-4), float(e["metrics"][metric])) for e in entries
           if e.get("seconds") is not None and metric in e["metrics"]]
    if not pts:
        return ""
    title, higher = METRIC_INFO.get(metric, (metric, True))[:2]
    width, height, ml, mr, mt, mb = 460, 300, 60, 120, 20, 40
    xs = [math.log10(p[1]) for p in pts]
    ys = [p[2] for p in pts]
    x0, x1 = math.floor(min(xs) * 2) / 2, math.ceil(max(xs) * 2) / 2 + (0.5 if min(xs) == max(xs) else 0)
    pad = (max(ys) - min(ys)) * 0.08 or abs(max(ys)) * 0.02 or 1
    y0, y1 = min(ys) - pad, max(ys) + pad

    def sx(v: float) -> float:
        return ml + (v - x0) / (x1 - x0) * (width - ml - mr)

    def sy(v: float) -> float:
        return mt + (y1 - v) / (y1 - y0) * (height - mt - mb)

    front = pareto_front([(p[1], p[2]) for p in pts], higher)
    out = [f'<svg class="plot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
           f'<title>{_e(title)} against seconds per sample</title>',
           f'<rect x="{ml}" y="{mt}" width="{width - ml - mr}" height="{height - mt - mb}" fill="none" '
           'stroke="#999"/>']
    for t in range(math.ceil(x0), math.floor(x1) + 1):
        out.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{mt}" y2="{height - mb}" stroke="#eee"/>'
                   f'<text x="{sx(t):.1f}" y="{height - mb + 14}" text-anchor="middle">{10.0 ** t:g}</text>')
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{ml}" x2="{width - mr}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#eee"/>'
                   f'<text x="{ml - 4}" y="{sy(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    out.append(f'<text x="{(ml + width - mr) / 2}" y="{height - 6}" text-anchor="middle">seconds per sample '
               '(log)</text>')
    out.append(f'<text transform="translate(14 {(mt + height - mb) / 2}) rotate(-90)" text-anchor="middle">'
               f'{_e(title)} ({"higher" if higher else "lower"} is better)</text>')
    line = " ".join(f"{sx(xs[i]):.1f},{sy(ys[i]):.1f}" for i in front)
    out.append(f'<polyline class="pareto" points="{line}" fill="none" stroke="#d62728" stroke-width="2"/>')
    labels = label_positions([(sx(xs[i]), sy(p[2]), p[0]) for i, p in enumerate(pts)], width, mt, height - mb)
    for i, (name, sec, q) in enumerate(pts):
        on = i in front
        lx, ly, anchor = labels[i]
        out.append(f'<circle cx="{sx(xs[i]):.1f}" cy="{sy(q):.1f}" r="{5 if on else 3.5}" '
                   f'fill="{"#d62728" if on else "#1f77b4"}"><title>{_e(name)}: {q:.4g} at {sec:.3g} s'
                   f'{" (Pareto front)" if on else ""}</title></circle>')
        if abs(ly - (sy(q) + 4)) > 0.5:  # moved off its point: a leader line says whose label it is
            out.append(f'<line class="leader" x1="{sx(xs[i]):.1f}" y1="{sy(q):.1f}" x2="{lx:.1f}" y2="{ly - 4:.1f}" '
                       'stroke="#aaa" stroke-width=".7"/>')
        out.append(f'<text class="label" x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}">{_e(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def strip_plot_svg(rows: list[dict[str, Any]], metric: str, order: list[str]) -> str:
    """One line per method, one dot per image (its value of ``metric``), the mean as a bar."""
    values: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for r in rows:
        v = r["metrics"].get(metric)
        if v is not None and math.isfinite(v):
            values[r["method"]].append((r["id"], float(v)))
    methods = [m for m in order if m in values]
    if not methods:
        return ""
    title = METRIC_INFO.get(metric, (metric,))[0]
    all_v = [v for m in methods for _, v in values[m]]
    lo, hi = min(all_v), max(all_v)
    pad = (hi - lo) * 0.05 or 1
    lo, hi = lo - pad, hi + pad
    ml, mr, row_h, mt = 170, 20, 22, 10
    width, height = 520, mt + row_h * len(methods) + 36

    def sx(v: float) -> float:
        return ml + (v - lo) / (hi - lo) * (width - ml - mr)

    out = [f'<svg class="strip" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
           f'<title>per-image {_e(title)} by method</title>']
    for t in _ticks(lo, hi):
        out.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{mt}" y2="{height - 30}" stroke="#eee"/>'
                   f'<text x="{sx(t):.1f}" y="{height - 16}" text-anchor="middle">{t:g}</text>')
    out.append(f'<text x="{(ml + width - mr) / 2}" y="{height - 2}" text-anchor="middle">{_e(title)} per image'
               '</text>')
    for k, m in enumerate(methods):
        y = mt + row_h * k + row_h / 2
        out.append(f'<text x="{ml - 6}" y="{y + 4:.1f}" text-anchor="end">{_e(m)}</text>')
        for j, (item, v) in enumerate(sorted(values[m])):
            dy = ((j * 7) % 11 - 5) * 0.9  # deterministic jitter so equal values stay visible
            out.append(f'<circle class="dot" cx="{sx(v):.1f}" cy="{y + dy:.1f}" r="3" fill="#1f77b4" '
                       f'fill-opacity=".6"><title>{_e(m)} · {_e(item)}: {v:.4g}</title></circle>')
        mean = sum(v for _, v in values[m]) / len(values[m])
        out.append(f'<line x1="{sx(mean):.1f}" x2="{sx(mean):.1f}" y1="{y - 8:.1f}" y2="{y + 8:.1f}" '
                   f'stroke="#d62728" stroke-width="2"><title>mean {mean:.4g}</title></line>')
    out.append("</svg>")
    return "".join(out)


# ------------------------------------------------------------------------------------------------ tables
def _provenance_html(e: dict[str, Any]) -> str:
    if e["source"] == "published":
        info = {k: e.get(k) for k in ("reference", "seed", "line", "note") if e.get(k)}
        label = "source"
    else:
        info = {**e.get("provenance", {}), **({"cost": e["cost"]} if e.get("cost") else {})}
        label = "provenance"
    return f"<details><summary>{label}</summary><pre>{_e(json.dumps(info, indent=1, default=str))}</pre></details>"


def table_html(entries: list[dict[str, Any]], cols: list[str]) -> str:
    primary = cols[0] if cols else None
    refs = sorted({(e.get("vs") or {}).get("reference", {}).get("method") for e in entries} - {None})
    head = ["<th class='l'>Method</th>", "<th class='l'>Source</th>", "<th>n</th>"]
    head += [f"<th>{_e(METRIC_INFO.get(c, (c,))[0])}</th>" for c in cols]
    head += [f"<th>Δ {_e(METRIC_INFO.get(primary, (primary,))[0])} vs {_e('/'.join(refs) or 'reference')}</th>",
             "<th>Δ vs best</th>"] if primary else []
    head += ["<th>s/sample</th>", "<th>Params</th>", "<th>MACs</th>", "<th class='l'>details</th>"]
    body = []
    for e in entries:
        pub = e["source"] != "measured"
        best = (e.get("vs") or {}).get("best", {}).get("method") == e["method"]
        cls = " ".join(c for c in ("published" if pub else "", "best" if best else "") if c)
        cells = [f"<td class='l m' data-v='{_e(e['method'])}'>{_e(e['method'])}</td>",
                 f"<td class='l' data-v='{_e(e['source'])}'>" + (f"<span class='badge'>published</span> "
                                                                   f"{_e(e.get('reference', ''))}" if pub
                                                                   else "measured") + "</td>",
                 f"<td data-v='{e.get('n') or ''}'>{e.get('n') or '–'}</td>"]
        for c in cols:
            v = e["metrics"].get(c)
            ci = (e.get("ci") or {}).get(c)
            ci_txt = f" <span class='ci'>[{_fmt(c, ci[0])}, {_fmt(c, ci[1])}]</span>" if ci else ""
            cells.append(f"<td data-v='{'' if v is None else v}'>{_fmt(c, v)}{ci_txt}</td>")
        if primary:
            for label in ("reference", "best"):
                vs = (e.get("vs") or {}).get(label) or {}
                d = vs.get(primary)
                if d is None:
                    cells.append("<td data-v=''>–</td>")
                elif vs["method"] == e["method"]:
                    cells.append("<td data-v='0'>(itself)</td>")
                elif d["lo"] is None:
                    cells.append(f"<td data-v='{d['diff']}'>{d['diff']:+.4g} <span class='ci'>(1 unit: no "
                                 "interval)</span></td>")
                else:
                    tie = " <span class='tie'>tie</span>" if d["tie"] else ""
                    cells.append(f"<td data-v='{d['diff']}'>{d['diff']:+.4g} <span class='ci'>[{d['lo']:.3g}, "
                                 f"{d['hi']:.3g}]</span>{tie}</td>")
        cost = e.get("cost") or {}
        sec = e.get("seconds")
        cells += [f"<td data-v='{'' if sec is None else sec}'>{'–' if sec is None else f'{sec:.3f}'}</td>",
                  f"<td data-v='{cost.get('params') or ''}'>{fmt_count(cost.get('params'))}</td>",
                  f"<td data-v='{cost.get('macs') or ''}' title='at input {_e(cost.get('input', '?'))}'>"
                  f"{fmt_count(cost.get('macs'))}</td>",
                  f"<td class='l'>{_provenance_html(e)}</td>"]
        body.append(f"<tr class='{cls}'>" + "".join(cells) + "</tr>")
    return ("<table class='lb'><thead><tr>" + "".join(head) + "</tr></thead><tbody>" + "".join(body)
            + "</tbody></table>")


# ------------------------------------------------------------------------------------------------ pictures
def _figure(uri: str, caption: str, scale: int = 1, width: int | None = None) -> str:
    style = f" width='{width * scale}'" if width else ""
    return f"<figure><img src='{uri}'{style} alt='{_e(caption)}'><figcaption>{_e(caption)}</figcaption></figure>"


def pictures_html(root: Path, dataset: str, task: str, methods: list[str], rows: list[dict[str, Any]],
                  metric: str | None) -> str:
    folder = root / dataset
    inputs = folder / "_inputs"
    if not inputs.is_dir():
        return ""
    value = {(r["method"], safe_id(r["id"])): r["metrics"].get(metric) for r in rows if metric}
    ids = sorted(p.name[: -len("_blurry.png")] for p in inputs.glob("*_blurry.png"))[:MAX_PICTURES]
    have = [m for m in methods if (folder / safe_id(m)).is_dir()]
    parts = []
    for sid in ids:
        blurry, sharp = _read(inputs / f"{sid}_blurry.png"), _read(inputs / f"{sid}_sharp.png")
        outs = {m: _read(folder / safe_id(m) / f"{sid}.png") for m in have}
        outs = {m: o for m, o in outs.items() if o is not None}
        if blurry is None or not outs:
            continue
        figs = []
        if task in ("deblurring", "video-deblurring"):
            same = [o for o in outs.values() if o.shape == blurry.shape]
            top, left, side = crop_where_methods_differ(same or [blurry])

            def crop(img: np.ndarray, top: int = top, left: int = left, side: int = side) -> np.ndarray:
                return img[top:top + side, left:left + side]

            figs.append(_figure(data_uri(crop(blurry)), "blurry", 2, side))
            for m, o in outs.items():
                v = value.get((m, sid))
                if v is None and task == "video-deblurring":  # clip id: the centre frame's row
                    frame = [val for (mm, i), val in value.items() if mm == m and i.startswith(sid + "__")]
                    v = frame[len(frame) // 2] if frame else None
                label = m + (f" {_fmt(metric, v)}" if v is not None and metric else "")
                if o.shape == blurry.shape:
                    figs.append(_figure(data_uri(crop(o)), label, 2, side))
            if sharp is not None:
                figs.append(_figure(data_uri(crop(sharp)), "sharp", 2, side))
            caption = f"{sid.replace('__', '/')}: crop {side}×{side} at ({left}, {top}) where the methods differ most"
            extra = []
            for suffix, name in (("_flow", "flow"), ("_sigma", "σ")):
                if (inputs / f"{sid}{suffix}.png").is_file():
                    extra.append(_figure(data_uri(_read(inputs / f"{sid}{suffix}.png"), 160), f"GT {name}"))
                for m in have:
                    p = folder / safe_id(m) / f"{sid}{suffix}.png"
                    if p.is_file():
                        extra.append(_figure(data_uri(_read(p), 160), f"{m} {name}"))
            parts.append(f"<p class='note'>{_e(caption)}</p><div class='pics'>{''.join(figs)}</div>")
            if extra:
                parts.append(f"<div class='pics'>{''.join(extra)}</div>")
            continue
        figs.append(_figure(data_uri(blurry, 200), "blurry"))
        for suffix, name in (("_kernels", "GT kernels"), ("_mask", "GT mask"), ("_mixing", "GT mixing")):
            if (inputs / f"{sid}{suffix}.png").is_file():
                figs.append(_figure(data_uri(_read(inputs / f"{sid}{suffix}.png"), 200), name))
        for m, o in outs.items():
            v = value.get((m, sid))
            label = m + (f" {_fmt(metric, v)}" if v is not None and metric else "")
            figs.append(_figure(data_uri(o, 200), label + (" (score)" if task == "blur-detection" else "")))
            for suffix, name in (("_mask", "mask"), ("_mixing", "mixing")):
                p = folder / safe_id(m) / f"{sid}{suffix}.png"
                if p.is_file():
                    figs.append(_figure(data_uri(_read(p), 200), f"{m} {name}"))
        parts.append(f"<p class='note'>{_e(sid.replace('__', '/'))}</p><div class='pics'>{''.join(figs)}</div>")
    if not parts:
        return ""
    return "<h4>Pictures</h4>" + "".join(parts)


#: how each task's picture is labelled in the real-blur figure, in the figure's order (as Figure 5 of Carbajal et
#: al. 2021: the blurry photo, the estimated kernels, then the deblurred images)
REAL_ORDER = {"kernel-estimation": "kernels", "blur-detection": "blur score", "deblurring": ""}
MAX_REAL_PICTURES = 8
REAL_SIDE = 240  # px, longest side of each picture of the real-blur figure


def real_pictures_html(root: Path, dataset: str, methods: dict[str, list[str]]) -> str:
    """Per photo, side by side: the blurry photo, each method's kernel grid, blur score map and deblurred image
    (``methods``: task -> method names). Real blur has no ground truth, so there is nothing else to show."""
    folder = root / dataset
    inputs = folder / "_inputs"
    if not inputs.is_dir():
        return ""
    ids = sorted(p.name[: -len("_blurry.png")] for p in inputs.glob("*_blurry.png"))[:MAX_REAL_PICTURES]
    parts = []
    for sid in ids:
        blurry = _read(inputs / f"{sid}_blurry.png")
        if blurry is None:
            continue
        figs = [_figure(data_uri(blurry, REAL_SIDE), "blurry (real)")]
        for task, label in REAL_ORDER.items():
            for m in methods.get(task, []):
                out = _read(folder / safe_id(m) / f"{sid}.png")
                if out is not None:
                    figs.append(_figure(data_uri(out, REAL_SIDE), f"{m} ({label})" if label else m))
        parts.append(f"<p class='note'>{_e(sid.replace('__', '/'))}</p><div class='pics real'>{''.join(figs)}</div>")
    return "".join(parts)


def _real_datasets(entries: list[dict[str, Any]]) -> list[str]:
    """Datasets without ground truth: measured, and no metric in any of their rows (real blur)."""
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        if e["source"] == "measured":
            by_dataset[e["dataset"]].append(e)
    return sorted(d for d, es in by_dataset.items() if not any(e["metrics"] for e in es))


# ------------------------------------------------------------------------------------------------ page
def render_html(entries: list[dict[str, Any]], rows: list[dict[str, Any]], title: str,
                assets: Path | None = None) -> str:
    """The report page as a string (see the module docstring)."""
    sections, nav = [], []
    real = _real_datasets(entries)
    for task in sorted({e["task"] for e in entries}):
        task_entries = [e for e in entries if e["task"] == task]
        nav.append(f"<li><a href='#{_e(task)}'>{_e(task)}</a>: " + ", ".join(
            f"<a href='#{_e(task)}--{_e(d)}'>{_e(d)}</a>" for d in sorted({e['dataset'] for e in task_entries}))
            + "</li>")
        sections.append(f"<h2 id='{_e(task)}'>{_e(task)}</h2>")
        for dataset in sorted({e["dataset"] for e in task_entries}):
            ds = [e for e in task_entries if e["dataset"] == dataset]
            cols = _metric_columns(ds)
            measured = [e for e in ds if e["source"] == "measured"]
            ds_rows = [r for r in rows if r["dataset"] == dataset and r.get("task", "deblurring") == task]
            split = next((e.get("split") for e in ds if e.get("split")), "")
            protocol = next((e.get("protocol") for e in ds if e.get("protocol")), "")
            sections.append(f"<h3 id='{_e(task)}--{_e(dataset)}'>{_e(dataset)} <small>{_e(split)}"
                            f"{' · ' + _e(protocol) if protocol else ''}</small></h3>")
            sections.append(table_html(ds, cols))
            figs = []
            if measured and cols:
                figs.append(quality_vs_seconds_svg(measured, cols[0]))
                order = [e["method"] for e in measured]
                figs.append(strip_plot_svg(ds_rows, cols[0], order))
            figs = [f for f in figs if f]
            if figs:
                sections.append("<div class='figs'>" + "".join(figs) + "</div>")
            if dataset in real:
                sections.append("<p class='note'>Real blur, no ground truth: no metric; the outputs are under "
                                f"<a href='#real--{_e(dataset)}'>real blur</a>.</p>")
            elif assets is not None and measured:
                sections.append(pictures_html(assets, dataset, task, [e["method"] for e in measured], ds_rows,
                                              cols[0] if cols else None))
    if real:
        nav.append("<li><a href='#real'>real blur</a>: " + ", ".join(
            f"<a href='#real--{_e(d)}'>{_e(d)}</a>" for d in real) + "</li>")
        sections.append("<h2 id='real'>real blur (no ground truth)</h2><p class='note'>Photographs with real blur "
                        "and no sharp image: each method's output side by side (estimated kernels drawn on the photo, "
                        "blur score maps, deblurred images); s/sample in the tables above.</p>")
        for dataset in real:
            methods: dict[str, list[str]] = defaultdict(list)
            for e in entries:
                if e["dataset"] == dataset and e["source"] == "measured":
                    methods[e["task"]].append(e["method"])
            pics = real_pictures_html(assets, dataset, methods) if assets is not None else ""
            sections.append(f"<h3 id='real--{_e(dataset)}'>{_e(dataset)}</h3>"
                            + (pics or "<p class='note'>No pictures kept (evaluate --no-report-images).</p>"))
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{_e(title)}</h1><ul>{''.join(nav)}</ul>"
            f"<p class='note'>Click a column title to sort. Published rows (yellow, <span class='badge'>published"
            f"</span>) are copied from the papers, each naming its table; they have no per-sample values, hence no "
            f"intervals and no dots. Intervals: {_e(INTERVALS_DESCRIPTION)}. {_e(COST_NOTE)} In the plot, red points "
            f"joined by the red line are the Pareto front (no other method is both faster and better).</p>"
            + "".join(sections) + f"<script>{JS}</script></body></html>")


def run_callbacks(out: str | Path, images: bool = True) -> list[Any]:
    """Callbacks an evaluation run adds for the report: cost counts, and the pictures unless ``images`` is off."""
    # deferred: torch (rendering a report from files on disk needs neither module)
    from blurbench.leaderboard.assets import ReportAssets
    from blurbench.leaderboard.cost import CostRecorder

    return ([ReportAssets(out)] if images else []) + [CostRecorder(out)]


def write_report(out: str | Path, entries: list[dict[str, Any]], rows: list[dict[str, Any]], title: str,
                 name: str = "leaderboard.html", assets: str | Path | None = None) -> Path:
    """Write the report to ``out/name``; pictures come from ``assets`` (default ``out/report``) when present."""
    out = Path(out)
    assets_dir = Path(assets) if assets is not None else out / ASSET_DIR
    path = out / name
    atomic_write_text(path, render_html(entries, rows, title, assets_dir if assets_dir.is_dir() else None))
    return path
