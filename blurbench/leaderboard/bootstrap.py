"""Paired bootstrap intervals for leaderboard means: is a difference between two methods more than noise?

Each (task, dataset) is resampled by *unit* — an image, or for video a clip (its frames are not independent) —
with replacement, ``resamples`` times, from a generator seeded by the seed and the (task, dataset, metric) names,
so the same rows always give the same intervals. A method's mean gets a percentile interval; the difference of
two methods is *paired*: both means are taken over the same resampled units (the units both methods have), so
what the images have in common cancels. A difference whose interval contains 0 is a tie.

Published rows (copied from papers) have no per-sample values and so no interval; nor has a mean of a single
unit (``lo``/``hi``/``tie`` are None for its differences).
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from typing import Any

import numpy as np

#: the reference method of each task (the floor a method should beat); "best" is always added
REFERENCES: dict[str, str] = {
    "deblurring": "identity",
    "kernel-estimation": "mean-kernel",
    "video-deblurring": "video-identity",
    "blur-detection": "constant-score",
}
DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
LEVEL = 0.95
DESCRIPTION = (f"{LEVEL:.0%} paired bootstrap percentile intervals, {DEFAULT_RESAMPLES} resamples of images "
               f"(video: of clips), seed {DEFAULT_SEED}; a difference whose interval contains 0 is a tie")


def unit_of(row: dict[str, Any]) -> str:
    """The resampling unit of a row: its image, or its clip for video frames (``clip/frame`` ids)."""
    if row.get("task") == "video-deblurring" and "/" in row["id"]:
        return row["id"].rsplit("/", 1)[0]
    return row["id"]


def _rng(seed: int, *names: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(n.encode()) for n in names)])


def _unit_sums(rows: list[dict[str, Any]], metric: str) -> dict[str, tuple[float, int]]:
    sums: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        value = r["metrics"].get(metric)
        if value is not None and math.isfinite(value):
            sums[unit_of(r)].append(float(value))
    return {u: (math.fsum(v), len(v)) for u, v in sums.items()}


def _resampled_means(sums: np.ndarray, counts: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Mean of the pooled samples of each resample of units ([R, U] indices)."""
    return sums[draws].sum(axis=1) / counts[draws].sum(axis=1)


def _interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def mean_interval(values: list[float] | np.ndarray, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                  level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, lo, hi) of independent samples (one per unit)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples to bootstrap")
    draws = _rng(seed, "mean").integers(0, x.size, size=(resamples, x.size))
    lo, hi = _interval(x[draws].mean(axis=1), level)
    return float(x.mean()), lo, hi


def paired_difference(a: list[float] | np.ndarray, b: list[float] | np.ndarray, resamples: int = DEFAULT_RESAMPLES,
                      seed: int = DEFAULT_SEED, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean(a − b), lo, hi) for paired samples ``a[i]``, ``b[i]`` of the same unit."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired samples must be non-empty and of the same length")
    return mean_interval(a - b, resamples, seed, level)


def intervals(rows: list[dict[str, Any]], resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
              level: float = LEVEL, higher_is_better: dict[str, bool] | None = None,
              references: dict[str, str] | None = None) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Intervals of every (task, method, dataset) of per-sample ``rows``.

    Returns ``{(task, method, dataset): {"ci": {metric: [lo, hi]}, "vs": {label: {"method": name,
    metric: {"diff", "lo", "hi", "tie", "n"}}}}}`` where ``label`` is ``"reference"`` (the task's floor, see
    :data:`REFERENCES`) and ``"best"`` (the method with the best mean of the task's first metric on that dataset).
    Differences are method − other.
    """
    higher_is_better = higher_is_better or {}
    references = {**REFERENCES, **(references or {})}
    groups = _by_task_dataset(rows)
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for (task, dataset), by_method in sorted(groups.items()):
        group = _Group(task, dataset, by_method, resamples, seed, higher_is_better)
        out.update(group.intervals(references.get(task), level))
    return out


def _by_task_dataset(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, list[dict[str, Any]]]]:
    """``{(task, dataset): {method: rows}}``: the groups that are resampled together."""
    groups: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        groups[(r.get("task", "deblurring"), r["dataset"])][r["method"]].append(r)
    return groups


def compare_pairs(rows: list[dict[str, Any]], pairs: list[tuple[str, str]], resamples: int = DEFAULT_RESAMPLES,
                  seed: int = DEFAULT_SEED, level: float = LEVEL) -> list[dict[str, Any]]:
    """Paired differences ``a − b`` for each ``(a, b)`` of ``pairs``, per (task, dataset) holding both methods.

    Returns ``[{"task", "dataset", "method": a, "other": b, metric: {"diff", "lo", "hi", "tie", "n"}, ...}]`` in
    the order of ``pairs`` (the same draws as :func:`intervals`, so the numbers match the tables').
    """
    groups = _by_task_dataset(rows)
    out = []
    for a, b in pairs:
        for (task, dataset), by_method in sorted(groups.items()):
            if a in by_method and b in by_method:
                group = _Group(task, dataset, {a: by_method[a], b: by_method[b]}, resamples, seed, {})
                cmp = group.compare(a, b, level)
                other = cmp.pop("method")
                out.append({"task": task, "dataset": dataset, "method": a, "other": other, **cmp})
    return out


class _Group:
    """The methods of one (task, dataset); one draw matrix per (metric, unit set), shared by paired comparisons."""

    def __init__(self, task: str, dataset: str, by_method: dict[str, list[dict[str, Any]]], resamples: int,
                 seed: int, higher_is_better: dict[str, bool]) -> None:
        self.task, self.dataset, self.resamples, self.seed = task, dataset, resamples, seed
        self.methods = list(by_method)
        order = list(higher_is_better)
        self.metrics = sorted({k for rs in by_method.values() for r in rs for k in r["metrics"]},
                              key=lambda m: (order.index(m) if m in order else len(order), m))
        self.higher = higher_is_better
        self.sums = {(m, k): _unit_sums(rs, k) for m, rs in by_method.items() for k in self.metrics}
        self._draws: dict[tuple[str, ...], np.ndarray] = {}

    def draws(self, metric: str, units: tuple[str, ...]) -> np.ndarray:
        key = (metric, *units)
        if key not in self._draws:
            rng = _rng(self.seed, self.task, self.dataset, metric, *units)
            self._draws[key] = rng.integers(0, len(units), size=(self.resamples, len(units)))
        return self._draws[key]

    def stats(self, method: str, metric: str, units: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        s = self.sums[(method, metric)]
        return np.array([s[u][0] for u in units]), np.array([s[u][1] for u in units], dtype=np.float64)

    def intervals(self, reference: str | None, level: float) -> dict[tuple[str, str, str], dict[str, Any]]:
        out: dict[tuple[str, str, str], dict[str, Any]] = {}
        means: dict[tuple[str, str], float] = {}
        for method in self.methods:
            entry: dict[str, Any] = {"ci": {}, "vs": {}}
            for metric in self.metrics:
                units = tuple(sorted(self.sums[(method, metric)]))
                if not units:
                    continue
                s, c = self.stats(method, metric, units)
                means[(method, metric)] = float(s.sum() / c.sum())
                if len(units) > 1:  # one image (or clip) says nothing about the spread: no interval
                    entry["ci"][metric] = list(_interval(_resampled_means(s, c, self.draws(metric, units)), level))
            out[(self.task, method, self.dataset)] = entry
        primary = self.metrics[0] if self.metrics else ""
        candidates = [m for m in self.methods if (m, primary) in means]
        best = None
        if candidates:
            sign = 1 if self.higher.get(primary, True) else -1
            best = max(candidates, key=lambda m: (sign * means[(m, primary)], m))
        for label, other in (("reference", reference), ("best", best)):
            if other is None or other not in self.methods:
                continue
            for method in self.methods:
                out[(self.task, method, self.dataset)]["vs"][label] = self.compare(method, other, level)
        return out

    def compare(self, method: str, other: str, level: float) -> dict[str, Any]:
        """Paired difference method − other of every metric, over the units both have."""
        cmp: dict[str, Any] = {"method": other}
        for metric in self.metrics:
            units = tuple(sorted(set(self.sums[(method, metric)]) & set(self.sums[(other, metric)])))
            if not units:
                continue
            sa, ca = self.stats(method, metric, units)
            sb, cb = self.stats(other, metric, units)
            diff = float(sa.sum() / ca.sum() - sb.sum() / cb.sum())
            if len(units) < 2:
                cmp[metric] = {"diff": diff, "lo": None, "hi": None, "tie": None, "n": len(units)}
                continue
            d = self.draws(metric, units)
            lo, hi = _interval(_resampled_means(sa, ca, d) - _resampled_means(sb, cb, d), level)
            cmp[metric] = {"diff": diff, "lo": lo, "hi": hi,
                           "tie": bool(lo <= 0.0 <= hi), "n": len(units)}
        return cmp
