"""Motion-blur kernel generators (numpy) and a pre-computed, versioned kernel bank (safetensors).

Conventions shared by every generator:

- A kernel is a float32 ``[K, K]`` array, ``K`` odd, non-negative, summing to 1, used as a
  cross-correlation weight exactly as ``F.conv2d`` / :func:`blurbench.ops.reblur.reblur` use it.
  Axis 0 is the image row (y, pointing down), axis 1 the column (x, pointing right).
- Its centre of mass is the centre tap ``(K // 2, K // 2)``: a kernel blurs without shifting the image on
  average, and the centred delta is the identity.
- It *fits*: the outermost ring of taps is exactly zero, so no mass was clipped at the support border.
  Paths too large for the support are shrunk (uniformly scaled about their centroid) until they fit —
  never cropped.
- Paths are rasterised with sub-pixel accuracy: each path sample is splatted bilinearly onto its four
  neighbouring taps (for a dense uniform sampling this equals box-filtering the continuous path, so the
  result is anti-aliased and its centroid equals the path's centroid exactly).
- Randomness comes from ``np.random.Generator`` objects. Every random kernel is drawn from its own
  generator seeded with one integer, so a bank's kernel ``i`` depends only on ``(seed, i)`` — not on the bank
  size, the batch used for vectorisation, or the number of worker processes.

Kinds (``KINDS``):

- ``"camera_shake"``: Boracchi & Foi (2012) random trajectories — a particle with constant speed whose
  velocity gets Gaussian jitter, a pull back towards the start ("centripetal" term, up to 0.7) and rare
  impulsive shakes that flip it roughly backwards (probability ``0.2 * U * anxiety`` per sample); the
  trajectory is sampled over the first ``exposure`` fraction of its duration. It lives in a
  ``canvas x canvas`` window which is mapped onto the usable ``K - 3`` taps of the support (so
  ``max_length / canvas`` is the longest blur as a fraction of the support; pass ``canvas=size`` for
  lengths in output pixels).
- ``"linear"``: uniform motion along a straight segment. ``length`` L is the extent in taps from the first
  to the last touched tap at angle 0 (a continuous segment of length ``L - 1``; ``L = 1`` is a delta), as in
  MATLAB's ``fspecial('motion')``; ``angle`` is in degrees, counter-clockwise from the +x axis.
- ``"object"``: an object moving with constant acceleration while turning at a constant rate: speed grows
  linearly from 1 to ``1 + accel`` and the heading turns by ``turn`` degrees over the exposure; the path is
  sampled uniformly in *time*, so mass piles up where the object is slow (a bright head fading into a
  streak), and its arc length is ``length - 1`` taps (same convention as ``"linear"``).
- ``"delta"``: the centred delta (no blur), useful to mix sharp regions into training data.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from blurbench.errors import DataError

__all__ = [
    "GENERATOR_VERSION", "KINDS", "KernelBank", "KernelBankError", "KernelBankMissing", "KernelParams",
    "camera_shake_kernel", "camera_shake_trajectory", "delta_kernel", "linear_kernel", "object_kernel",
    "random_kernels",
]

#: Bump whenever any generator changes the kernels it returns for a given seed (caches key on it).
GENERATOR_VERSION = "1"
KINDS = ("camera_shake", "linear", "object", "delta")
_FORMAT = "blurbench.kernel_bank"
_META_KEY = "blurbench"  # the safetensors metadata entry holding the bank's metadata as JSON
_BANK_TAG = 0x6B65726E  # "kern": keeps bank seeds apart from other users of the same integer seed
_CHUNK = 1024  # kernels per worker task
_BATCH = 512  # kernels integrated together in one vectorised loop
_RASTER_BATCH = 32  # paths splatted together
_SCALAR_MAX = 4  # below this many trajectories a plain Python loop beats numpy's per-call overhead
_SAMPLES_PER_TAP = 16  # path samples per tap of length for the linear/object kinds (box-filter accuracy)


class KernelBankError(DataError, ValueError):
    """A kernel bank file is unreadable, is not a kernel bank, or does not match what was asked for."""


class KernelBankMissing(DataError, FileNotFoundError):
    """A kernel bank file does not exist."""


# --------------------------------------------------------------------------------------------- params
@dataclass(frozen=True)
class KernelParams:
    """Parameters of the random kernel generators (defaults: the common Boracchi–Foi port, paper exposure).

    Attributes:
        canvas: side of the window the camera-shake trajectory is simulated in (mapped onto the support).
        num_samples: trajectory samples (Boracchi–Foi ``numT``).
        max_length: trajectory length in canvas pixels (the particle's constant speed times duration).
        anxiety: amount of random jitter / shake probability (Boracchi–Foi ``anxiety``).
        exposures: exposure fractions in (0, 1]; each camera-shake kernel draws one uniformly. The paper
            used full exposure (1 s of a 1 s trajectory); the port's set is (0.001, 0.1, 0.5, 1.0).
        linear_length: (min, max) extent in taps of linear kernels; None means (1, K - 2), the largest
            range that fits at every angle (longer lines are shrunk to fit).
        object_length: (min, max) arc length + 1 in taps of object kernels; None means (3, K - 2).
        object_max_turn: largest total heading change of an object path, degrees.
        object_max_accel: largest relative speed gain of an object path (final / initial speed - 1).
    """

    canvas: float = 64.0
    num_samples: int = 2000
    max_length: float = 60.0
    anxiety: float = 0.005
    exposures: tuple[float, ...] = (1.0,)
    linear_length: tuple[float, float] | None = None
    object_length: tuple[float, float] | None = None
    object_max_turn: float = 90.0
    object_max_accel: float = 3.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "exposures", tuple(float(e) for e in np.atleast_1d(self.exposures)))
        for name in ("linear_length", "object_length"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, (float(value[0]), float(value[1])))
        if self.canvas <= 0 or self.max_length <= 0 or self.anxiety < 0:
            raise ValueError(f"canvas and max_length must be > 0 and anxiety >= 0, got {self}")
        if self.num_samples < 2:
            raise ValueError(f"num_samples must be >= 2, got {self.num_samples}")
        if not self.exposures or not all(0 < e <= 1 for e in self.exposures):
            raise ValueError(f"exposures must be fractions in (0, 1], got {self.exposures}")
        for name in ("linear_length", "object_length"):
            value = getattr(self, name)
            if value is not None and not 1 <= value[0] <= value[1]:
                raise ValueError(f"{name} must be (min, max) with 1 <= min <= max, got {value}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _check_size(size: int) -> int:
    if int(size) != size or size < 5 or size % 2 == 0:
        raise ValueError(f"kernel size must be an odd integer >= 5 (the centre tap is the origin), "
                         f"got {size}")
    return int(size)


def _fit_limit(size: int) -> float:
    """Largest |offset| from the centre tap a path sample may have: keeps the outer ring of taps empty."""
    return (size - 1) / 2 - 1


# ------------------------------------------------------------------------------------------ rasterise
def _rasterise(px: np.ndarray, py: np.ndarray, w: np.ndarray, size: int,
               scale: np.ndarray | float) -> np.ndarray:
    """Centre paths on their weighted centroid, shrink those that do not fit, splat them bilinearly.

    Args:
        px, py: [n, M] sample positions (any units); w: [n, M] non-negative sample weights.
        scale: [n] or scalar factor from path units to taps (reduced further where a path does not fit).

    Returns:
        [n, K, K] float32 kernels, each summing to 1, centroid on the centre tap, outer ring zero.
    """
    n = px.shape[0]
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (n,))
    if n > _RASTER_BATCH:  # small blocks keep the [n, M, 4] temporaries in cache (~5x faster)
        return np.concatenate([
            _rasterise(px[s:s + _RASTER_BATCH], py[s:s + _RASTER_BATCH], w[s:s + _RASTER_BATCH], size,
                       scale[s:s + _RASTER_BATCH]) for s in range(0, n, _RASTER_BATCH)
        ])
    wsum = w.sum(1, keepdims=True)
    dx = px - (w * px).sum(1, keepdims=True) / wsum
    dy = py - (w * py).sum(1, keepdims=True) / wsum
    used = w > 0
    half = np.where(used, np.maximum(np.abs(dx), np.abs(dy)), 0.0).max(1)
    limit = _fit_limit(size)
    # shrink-to-fit rather than crop: cropping would move the centroid and drop mass
    scale = np.where(half * scale > limit, limit / np.maximum(half, 1e-12), scale)
    c = (size - 1) / 2
    # the clip only removes round-off (|offset| <= limit by construction); it keeps the outer ring exactly 0
    x = np.clip(c + dx * scale[:, None], 1.0, size - 2.0)
    y = np.clip(c + dy * scale[:, None], 1.0, size - 2.0)
    x0 = np.minimum(np.floor(x), size - 2).astype(np.int64)
    y0 = np.minimum(np.floor(y), size - 2).astype(np.int64)
    fx, fy = x - x0, y - y0
    base = (np.arange(n, dtype=np.int64)[:, None] * size + y0) * size + x0
    idx = np.concatenate([base, base + 1, base + size, base + size + 1], axis=1).ravel()
    vals = np.concatenate(
        [w * (1 - fx) * (1 - fy), w * fx * (1 - fy), w * (1 - fx) * fy, w * fx * fy], axis=1
    ).ravel()
    k = np.bincount(idx, weights=vals, minlength=n * size * size).reshape(n, size, size)
    k /= k.sum(axis=(1, 2), keepdims=True)
    k = k.astype(np.float32)
    # renormalise in float32 so the stored kernels sum to 1 to float32 precision
    k /= k.sum(axis=(1, 2), keepdims=True, dtype=np.float32)
    return k


# ---------------------------------------------------------------------------------------- camera shake
@dataclass
class _ShakeDraws:
    """Every random number one batch of Boracchi–Foi trajectories consumes, drawn up front."""

    v0x: np.ndarray  # [n] initial velocity
    v0y: np.ndarray
    centripetal: np.ndarray  # [n]
    gnx: np.ndarray  # [T-1, n] gaussian_term * N(0, 1)
    gny: np.ndarray
    shake: np.ndarray  # [T-1, n] bool: impulsive shake at this step
    rot_c: np.ndarray  # [T-1, n] cos/sin of the shake rotation (pi + U(-0.5, 0.5))
    rot_s: np.ndarray
    exposure: np.ndarray  # [n]


def _draw_shake(rngs: Sequence[np.random.Generator], p: KernelParams) -> _ShakeDraws:
    t1 = p.num_samples - 1
    n = len(rngs)
    u = np.empty((n, 5))
    gnx, gny = np.empty((t1, n)), np.empty((t1, n))
    shake = np.zeros((t1, n), bool)
    rot_c, rot_s = np.zeros((t1, n)), np.zeros((t1, n))
    for i, r in enumerate(rngs):
        u[i] = r.random(5)  # centripetal, gaussian term, shake frequency, initial angle, exposure choice
        # float32 normals: ~3x cheaper to draw, and 24 bits are plenty for a jitter term
        noise = r.standard_normal((2, t1), dtype=np.float32)
        gaussian = 10.0 * u[i, 1]
        gnx[:, i], gny[:, i] = gaussian * noise[0], gaussian * noise[1]
        # Bernoulli(freq * anxiety) at every step, drawn as a count plus positions: same law, ~2000x fewer
        # draws (the probability is <= 0.001 per step)
        count = r.binomial(t1, 0.2 * u[i, 2] * p.anxiety)
        if count:
            steps = r.choice(t1, size=count, replace=False)
            rot = np.pi + (r.random(count) - 0.5)
            shake[steps, i] = True
            rot_c[steps, i], rot_s[steps, i] = np.cos(rot), np.sin(rot)
    angle = 2 * np.pi * u[:, 3]
    speed = p.anxiety if p.anxiety > 0 else p.max_length / t1  # Boracchi–Foi's initial velocity
    exposures = np.asarray(p.exposures)
    # cos/sin evaluated here, once, so the scalar and vectorised integrators see identical numbers
    return _ShakeDraws(
        v0x=np.cos(angle) * speed, v0y=np.sin(angle) * speed, centripetal=0.7 * u[:, 0],
        gnx=gnx, gny=gny, shake=shake, rot_c=rot_c, rot_s=rot_s,
        exposure=exposures[np.minimum((u[:, 4] * len(exposures)).astype(int), len(exposures) - 1)],
    )


def _integrate_shake(d: _ShakeDraws, p: KernelParams, vectorised: bool) -> tuple[np.ndarray, np.ndarray]:
    """Run the Boracchi–Foi recurrence; returns positions [n, T] (x, y) starting at the origin.

    Per step: dv = anxiety * (g * noise - centripetal * x) * step (+ 2 v e^{i(pi + U)} on a shake);
    v <- (v + dv) normalised to the step length; x <- x + v. Both code paths perform the same IEEE
    operations in the same order, so they return bit-identical trajectories.
    """
    n, t1 = d.v0x.shape[0], p.num_samples - 1
    step, anx = p.max_length / t1, p.anxiety
    xs = np.zeros((n, t1 + 1))
    ys = np.zeros((n, t1 + 1))
    if not vectorised:
        for i in range(n):
            vx, vy, x, y, cen = float(d.v0x[i]), float(d.v0y[i]), 0.0, 0.0, float(d.centripetal[i])
            gnx, gny = d.gnx[:, i].tolist(), d.gny[:, i].tolist()
            shake, rc, rs = d.shake[:, i].tolist(), d.rot_c[:, i].tolist(), d.rot_s[:, i].tolist()
            px, py = [0.0] * (t1 + 1), [0.0] * (t1 + 1)
            for t in range(t1):
                dvx = anx * (gnx[t] - cen * x) * step
                dvy = anx * (gny[t] - cen * y) * step
                if shake[t]:
                    dvx = dvx + 2.0 * (vx * rc[t] - vy * rs[t])
                    dvy = dvy + 2.0 * (vx * rs[t] + vy * rc[t])
                vx, vy = vx + dvx, vy + dvy
                s = step / max(math.sqrt(vx * vx + vy * vy), 1e-12)
                vx, vy = vx * s, vy * s
                x, y = x + vx, y + vy
                px[t + 1], py[t + 1] = x, y
            xs[i], ys[i] = px, py
        return xs, ys
    vx, vy, cen = d.v0x.copy(), d.v0y.copy(), d.centripetal
    x, y = np.zeros(n), np.zeros(n)
    any_shake = d.shake.any(1)
    for t in range(t1):
        dvx = anx * (d.gnx[t] - cen * x) * step
        dvy = anx * (d.gny[t] - cen * y) * step
        if any_shake[t]:  # rare: skip the work on the ~99.9% of steps without any shake
            sh = d.shake[t]
            dvx = dvx + np.where(sh, 2.0 * (vx * d.rot_c[t] - vy * d.rot_s[t]), 0.0)
            dvy = dvy + np.where(sh, 2.0 * (vx * d.rot_s[t] + vy * d.rot_c[t]), 0.0)
        vx = vx + dvx
        vy = vy + dvy
        s = step / np.maximum(np.sqrt(vx * vx + vy * vy), 1e-12)
        vx = vx * s
        vy = vy * s
        x = x + vx
        y = y + vy
        xs[:, t + 1] = x
        ys[:, t + 1] = y
    return xs, ys


def _exposure_weights(exposure: np.ndarray, num_samples: int) -> np.ndarray:
    """[n, T] weight of each sample: the fraction of its time slot [t, t+1)/T inside [0, exposure)."""
    t = np.arange(num_samples, dtype=np.float64)
    return np.clip(exposure[:, None] * num_samples - t[None, :], 0.0, 1.0)


def _shake_kernels(rngs: Sequence[np.random.Generator], size: int, p: KernelParams) -> np.ndarray:
    d = _draw_shake(rngs, p)
    xs, ys = _integrate_shake(d, p, vectorised=len(rngs) > _SCALAR_MAX)
    w = _exposure_weights(d.exposure, p.num_samples)
    return _rasterise(xs, ys, w, size, (size - 3) / p.canvas)


def camera_shake_trajectory(rng: np.random.Generator, params: KernelParams | None = None) -> np.ndarray:
    """One Boracchi–Foi trajectory in canvas pixels, complex [num_samples] (x + iy), starting at 0."""
    p = params or KernelParams()
    xs, ys = _integrate_shake(_draw_shake([rng], p), p, vectorised=False)
    return xs[0] + 1j * ys[0]


def camera_shake_kernel(
    size: int = 33, *, rng: np.random.Generator, canvas: float = 64.0, num_samples: int = 2000,
    max_length: float = 60.0, anxiety: float = 0.005, exposure: float = 1.0,
) -> np.ndarray:
    """One camera-shake kernel [K, K] (Boracchi & Foi 2012 trajectory; see the module docstring)."""
    size = _check_size(size)
    p = KernelParams(canvas=canvas, num_samples=num_samples, max_length=max_length, anxiety=anxiety,
                     exposures=(exposure,))
    return _shake_kernels([rng], size, p)[0]


# ------------------------------------------------------------------------------------ linear / object
def _segment_points(length: np.ndarray, angle_deg: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """[n, M] points uniformly covering centred segments of length ``length - 1`` (taps)."""
    m = _SAMPLES_PER_TAP * size
    s = ((np.arange(m) + 0.5) / m - 0.5)[None, :] * (length[:, None] - 1)
    a = np.deg2rad(angle_deg)[:, None]
    # snap cos/sin round-off (e.g. sin(pi) = 1e-16) so axis-aligned lines stay on exactly one row/column
    c, sn = np.cos(a), np.sin(a)
    c, sn = np.where(np.abs(c) < 1e-12, 0.0, c), np.where(np.abs(sn) < 1e-12, 0.0, sn)
    return s * c, -s * sn  # image rows point down: counter-clockwise angle means -y


def linear_kernel(length: float, angle: float, size: int = 33) -> np.ndarray:
    """Uniform linear motion kernel [K, K]: ``length`` taps (>= 1) at ``angle`` degrees (see module doc).

    Raises ValueError when the segment does not fit inside the support with its 1-tap empty border.
    """
    size = _check_size(size)
    if length < 1:
        raise ValueError(f"length must be >= 1 tap, got {length}")
    a = math.radians(angle)
    reach = (length - 1) / 2 * max(abs(math.cos(a)), abs(math.sin(a)))
    if reach > _fit_limit(size) + 1e-9:
        raise ValueError(f"a {length}-tap line at {angle} deg does not fit a {size}x{size} kernel "
                         f"(at most {size - 2} taps along an axis); use a larger size")
    px, py = _segment_points(np.array([float(length)]), np.array([float(angle)]), size)
    return _rasterise(px, py, np.ones_like(px), size, 1.0)[0]


def _object_points(length: np.ndarray, angle_deg: np.ndarray, turn_deg: np.ndarray, accel: np.ndarray,
                   size: int) -> tuple[np.ndarray, np.ndarray]:
    m = _SAMPLES_PER_TAP * size  # samples uniform in time
    # integrals of speed (1 + a t) and heading (theta0 + turn * t) via midpoint sums on a fine grid
    sub = 8
    tf = (np.arange(m * sub) + 0.5) / (m * sub)
    speed = 1 + accel[:, None] * tf[None, :]
    heading = np.deg2rad(angle_deg)[:, None] + np.deg2rad(turn_deg)[:, None] * tf[None, :]
    vx, vy = speed * np.cos(heading), -speed * np.sin(heading)
    px = np.cumsum(vx, 1)[:, sub - 1::sub]
    py = np.cumsum(vy, 1)[:, sub - 1::sub]
    arc = speed.sum(1)
    k = (length - 1) / np.maximum(arc, 1e-12)  # arc length -> length - 1 taps
    return px * k[:, None], py * k[:, None]


def object_kernel(length: float, angle: float, turn: float = 0.0, accel: float = 0.0,
                  size: int = 33) -> np.ndarray:
    """Object-motion kernel [K, K]: accelerating (speed 1 -> 1 + accel), turning (``turn`` degrees) path.

    Arc length is ``length - 1`` taps, initial heading ``angle`` degrees; shrunk to fit if needed.
    """
    size = _check_size(size)
    if length < 1 or accel < 0:
        raise ValueError(f"need length >= 1 and accel >= 0, got length={length}, accel={accel}")
    px, py = _object_points(np.array([float(length)]), np.array([float(angle)]), np.array([float(turn)]),
                            np.array([float(accel)]), size)
    return _rasterise(px, py, np.ones_like(px), size, 1.0)[0]


def delta_kernel(size: int = 33) -> np.ndarray:
    """The centred delta [K, K] (identity blur)."""
    size = _check_size(size)
    k = np.zeros((size, size), np.float32)
    k[size // 2, size // 2] = 1
    return k


# -------------------------------------------------------------------------------------- random batches
def _resolve_kinds(kinds: Sequence[str], probs: Sequence[float] | None) -> tuple[tuple[str, ...], np.ndarray]:
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    bad = [k for k in kinds if k not in KINDS]
    if not kinds or bad:
        raise ValueError(f"unknown kernel kind(s) {bad or kinds}; choose from {KINDS}")
    if probs is None:
        p = np.full(len(kinds), 1.0 / len(kinds))
    else:
        p = np.asarray(probs, dtype=np.float64)
        if p.shape != (len(kinds),) or (p < 0).any() or p.sum() <= 0:
            raise ValueError(f"probs must be {len(kinds)} non-negative numbers, got {probs}")
        p = p / p.sum()
    return kinds, np.cumsum(p)


def _kernels_from_seeds(seeds: Sequence[int | list[int]] | np.ndarray, size: int, kinds: Sequence[str],
                        probs: Sequence[float] | None, params: KernelParams) -> tuple[np.ndarray, np.ndarray]:
    """Kernels [n, K, K] and kind indices [n] (into ``kinds``); kernel i is a function of seeds[i] only."""
    kinds, cum = _resolve_kinds(kinds, probs)
    rngs = [np.random.default_rng(s if isinstance(s, list) else int(s)) for s in seeds]
    # the first draw of every stream picks its kind, so kinds and kernels never depend on batch-mates
    which = np.array([min(int(np.searchsorted(cum, r.random(), side="right")), len(kinds) - 1) for r in rngs],
                     dtype=np.int64)
    out = np.zeros((len(rngs), size, size), np.float32)
    for ki, kind in enumerate(kinds):
        sel = np.flatnonzero(which == ki)
        for start in range(0, len(sel), _BATCH):
            part = sel[start:start + _BATCH]
            sub = [rngs[i] for i in part]
            if kind == "camera_shake":
                out[part] = _shake_kernels(sub, size, params)
            elif kind == "linear":
                lo, hi = params.linear_length or (1.0, size - 2.0)
                u = np.stack([r.random(2) for r in sub])
                length, angle = lo + (hi - lo) * u[:, 0], 180.0 * u[:, 1]
                px, py = _segment_points(length, angle, size)
                out[part] = _rasterise(px, py, np.ones_like(px), size, 1.0)
            elif kind == "object":
                lo, hi = params.object_length or (3.0, size - 2.0)
                u = np.stack([r.random(4) for r in sub])
                length, angle = lo + (hi - lo) * u[:, 0], 360.0 * u[:, 1]
                turn = params.object_max_turn * (2 * u[:, 2] - 1)
                accel = params.object_max_accel * u[:, 3]
                px, py = _object_points(length, angle, turn, accel, size)
                out[part] = _rasterise(px, py, np.ones_like(px), size, 1.0)
            else:
                out[part] = delta_kernel(size)
    return out, which


def random_kernels(
    n: int, size: int = 33, *, rng: np.random.Generator, kinds: Sequence[str] = ("camera_shake",),
    probs: Sequence[float] | None = None, params: KernelParams | None = None,
) -> np.ndarray:
    """``n`` random kernels [n, K, K] float32; each kind drawn with ``probs`` (uniform by default)."""
    size = _check_size(size)
    seeds = rng.integers(0, 2**63 - 1, size=n)
    return _kernels_from_seeds(seeds, size, kinds, probs, params or KernelParams())[0]


# ------------------------------------------------------------------------------------------------ bank
def _bank_seeds(seed: int, start: int, stop: int) -> list[list[int]]:
    """Per-kernel seeds: kernel i of bank ``seed`` is the same for every bank size and worker count."""
    return [[_BANK_TAG, seed, i] for i in range(start, stop)]


def _bank_chunk(args: tuple[int, int, int, int, tuple[str, ...], tuple[float, ...] | None, KernelParams]
                ) -> tuple[np.ndarray, np.ndarray]:
    seed, start, stop, size, kinds, probs, params = args
    return _kernels_from_seeds(_bank_seeds(seed, start, stop), size, kinds, probs, params)


def _open_error(path: Path, why: str) -> KernelBankError:
    return KernelBankError(
        f"{path}: {why}",
        "delete the file and rebuild it with KernelBank.generate(...).save(path)",
    )


@dataclass(eq=False)  # array fields: identity comparison, not an ambiguous elementwise ==
class KernelBank:
    """A fixed, reproducible set of kernels ``[N, K, K]`` (float32) with their kinds and provenance.

    ``kinds`` holds indices into ``metadata["kinds"]``. A bank loaded with ``mmap=True`` reads kernels from
    the file on demand and pickles as its path (cheap to send to DataLoader workers).
    """

    kernels: np.ndarray
    kinds: np.ndarray
    metadata: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    # ------------------------------------------------------------------------------------- construction
    @classmethod
    def generate(
        cls, n: int, size: int = 33, seed: int = 0, kinds: Sequence[str] = ("camera_shake",), *,
        probs: Sequence[float] | None = None, workers: int = 1, params: KernelParams | None = None,
        **param_overrides: Any,
    ) -> KernelBank:
        """Generate ``n`` kernels. ``param_overrides`` set :class:`KernelParams` fields (e.g. ``anxiety``).

        ``workers > 1`` uses a process pool; the result is identical for any ``workers``.
        """
        size = _check_size(size)
        kinds_t, _ = _resolve_kinds(kinds, probs)
        params = replace(params or KernelParams(), **param_overrides)
        probs_t = None if probs is None else tuple(float(p) for p in probs)
        tasks = [(int(seed), s, min(s + _CHUNK, n), size, kinds_t, probs_t, params)
                 for s in range(0, n, _CHUNK)]
        if workers > 1 and len(tasks) > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                parts = list(pool.map(_bank_chunk, tasks))
        else:
            parts = [_bank_chunk(t) for t in tasks]
        kernels = np.concatenate([k for k, _ in parts]) if parts else np.zeros((0, size, size), np.float32)
        which = np.concatenate([w for _, w in parts]) if parts else np.zeros(0, np.int64)
        metadata = {
            "format": _FORMAT, "generator_version": GENERATOR_VERSION, "seed": str(int(seed)),
            "size": str(size), "count": str(n), "kinds": json.dumps(list(kinds_t)),
            "probs": json.dumps(probs_t), "params": params.to_json(),
        }
        return cls(kernels, which.astype(np.uint8), metadata)

    # ------------------------------------------------------------------------------------------- access
    def __len__(self) -> int:
        return int(self.kernels.shape[0])

    def __getitem__(self, index: int | slice | np.ndarray) -> np.ndarray:
        """Kernel(s) as an in-memory float32 array: [K, K] for an int, [m, K, K] otherwise."""
        return np.array(self.kernels[index], dtype=np.float32)

    @property
    def size(self) -> int:
        return int(self.kernels.shape[-1])

    @property
    def kind_names(self) -> tuple[str, ...]:
        return tuple(json.loads(self.metadata.get("kinds", '["camera_shake"]')))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` kernels [n, K, K] drawn uniformly with replacement."""
        if len(self) == 0:
            raise ValueError("cannot sample from an empty kernel bank")
        idx = rng.integers(0, len(self), size=n)
        return self[np.sort(idx)][np.argsort(np.argsort(idx))]  # sorted reads are kinder to a memory map

    def mean_kernel(self) -> np.ndarray:
        """Average kernel [K, K] (sums to 1), accumulated in float64 in blocks."""
        acc = np.zeros((self.size, self.size), np.float64)
        for s in range(0, len(self), 8192):
            acc += self.kernels[s:s + 8192].sum(0, dtype=np.float64)
        return (acc / max(len(self), 1)).astype(np.float32)

    # ---------------------------------------------------------------------------------------------- I/O
    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically as safetensors: ``kernels`` [N, K, K] f32, ``kinds`` [N] u8, and the metadata
        as one sorted-JSON entry ``"blurbench"`` (so equal banks give byte-identical files)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file({"kernels": np.ascontiguousarray(self.kernels, dtype=np.float32),
                       "kinds": np.ascontiguousarray(self.kinds, dtype=np.uint8)},
                      # one metadata entry holding sorted JSON: safetensors writes several entries in a
                      # random (hash) order, which would make identical banks differ byte-wise
                      tmp, metadata={_META_KEY: json.dumps({k: str(v) for k, v in self.metadata.items()},
                                                           sort_keys=True)})
            os.replace(tmp, path)  # readers see the old file or the complete new one, never a partial one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = False) -> KernelBank:
        """Read a bank written by :meth:`save`; ``mmap=True`` maps the kernels instead of reading them.

        Raises :class:`KernelBankMissing` (a FileNotFoundError) when missing, :class:`KernelBankError` (a
        ValueError) when unreadable; both are one-line ``DataError``s naming the file.
        """
        path = Path(path)
        if not path.is_file():
            raise KernelBankMissing(f"{path}: kernel bank not found",
                                    "build it with KernelBank.generate(...).save(path)")
        try:
            with safe_open(str(path), framework="np") as f:
                metadata = json.loads((f.metadata() or {}).get(_META_KEY, "{}"))
                keys = set(f.keys())
                if metadata.get("format") != _FORMAT or not {"kernels", "kinds"} <= keys:
                    raise _open_error(path, "not a blurbench kernel bank (wrong format tag or tensors)")
                kinds = f.get_tensor("kinds")
                kernels = None if mmap else f.get_tensor("kernels")
        except KernelBankError:
            raise
        except Exception as err:  # safetensors raises its own error types for truncated/garbage files
            raise _open_error(path, f"unreadable kernel bank ({type(err).__name__}: {err})") from None
        if mmap:
            kernels = cls._map(path)
        if kernels.dtype != np.float32 or kernels.ndim != 3 or kernels.shape[1] != kernels.shape[2] \
                or kernels.shape[0] != kinds.shape[0]:
            raise _open_error(path, f"kernels must be float32 [N, K, K] with one kind each, got "
                                    f"{kernels.dtype} {tuple(kernels.shape)} and kinds {tuple(kinds.shape)}")
        return cls(kernels, kinds, metadata, path if mmap else None)

    @staticmethod
    def _map(path: Path) -> np.ndarray:
        """Memory-map the ``kernels`` tensor (safetensors: u64 header size, JSON header, raw buffer)."""
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(header_len))
        info = header["kernels"]
        if info["dtype"] != "F32":
            raise _open_error(path, f"kernels must be F32, got {info['dtype']}")
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if end - begin != 4 * math.prod(shape):
            raise _open_error(path, "kernels tensor size does not match its shape")
        return np.memmap(path, dtype="<f4", mode="r", offset=8 + header_len + begin, shape=shape)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.path is not None:  # memory-mapped: ship the path, re-map in the receiving process
            state["kernels"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.kernels is None:
            self.kernels = self._map(self.path)
