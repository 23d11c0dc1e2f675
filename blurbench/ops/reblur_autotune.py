"""Run-time choice of the reblur path, like cuDNN's benchmark mode or FFTW's plans.

Which way of computing :func:`blurbench.ops.reblur.reblur` is fastest depends on the processor and the problem:
OpenCV's DFT beats ``torch.fft`` (MKL) 2.2x on an AMD EPYC and loses 1.2-1.9x on an Intel Xeon; helper threads
pay off on large problems only; the direct grouped ``conv2d`` wins for small kernels or few of them. So on the
first call per problem (operation, which inputs need gradients, shapes, K, B, padding, dtype, device, torch
threads), every candidate path is run a few times on the call's own inputs and the fastest is kept for the
rest of the process, and on disk (``reblur_paths.json`` under :func:`blurbench.cache.cache_dir`, per
processor model, torch and OpenCV version) for the next ones, unless the machine was overloaded while timing
(load average >= number of CPUs: the times say little then, so the next process times again). Every path
computes the same map (to float rounding, <= 1e-5 relative); only the time differs.

Paths (:class:`Path`, by name):

- ``direct``: the grouped ``conv2d`` of :func:`blurbench.ops.reblur.reblur_reference` (its transpose for the
  adjoint), gradients by autograd.
- ``fft-{opencv|torch}-{threads|serial}-t{N}``: the tiled FFT engine of :mod:`blurbench.ops.reblur_fft` with
  OpenCV's or torch's transforms, on single-threaded helper threads or in the calling thread, FFT tiles of
  at most N² (``-tN`` may be left out: the default tile).

Problems of less than 2^20 N·C·B·Ho·Wo are not timed (the timing would cost more than it saves): they run on
:func:`default_path`, the engine's path before the chooser (so the small problems of the built-in suite give the
same bits on every run and in every process, e.g. of a DDP evaluation, as they did).

``BLURBENCH_REBLUR_PATH=NAME`` forces one path (no timing); :func:`force` does the same in a ``with`` block.
A forced path that cannot run (OpenCV or helper threads off CPU, helper threads without ATen's OpenMP runtime)
is an error, never a silent substitute.

The timing is bounded: the candidates with the default tile race first (one warm-up run each, then at most
two timed rounds, the minimum counts, candidates 3x slower than the best after the warm-up drop out), then
the winner's other tile sizes; then the direct path, raced in full when the best FFT path takes under 20 ms,
else first timed on a band of 1/32 of the output rows and raced only if that extrapolates to less than 1.5x
the best FFT path. Past the first round, no run starts once the tuning of the problem has taken 1 s or 8
times the best candidate's time, whichever is longer. The problem is timed as it will run: forward only, or
forward and backward when gradients are needed. After 8 sizes of one problem (all else alike) have been
timed in a process, a new size takes the choice of the nearest timed size without timing (a dataset of many
image sizes does not time every image).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

import cv2
import torch

from blurbench.cache import cache_dir
from blurbench.errors import ConfigError
from blurbench.io import atomic_write_json
from blurbench.ops import reblur_fft

ENV = "BLURBENCH_REBLUR_PATH"
TRANSFORMS = ("opencv", "torch")
TILES_CPU = (reblur_fft.TILE_DEFAULT, 448, 256)  # FFT tile sides raced on CPU, the default first
_WARMUP_DROP = 3.0  # after the warm-up run, candidates this much slower than the best drop out
_TIMED_ROUNDS = 2
_BUDGET_S = 1.0  # the tuning of one problem runs no further candidate once it has taken this long, or
_BUDGET_RUNS = 8  # ... this many times the best candidate's time if that is longer (the first round always runs)
_DIRECT_BAND = 32  # the direct path is first timed on 1/_DIRECT_BAND of the output rows
_DIRECT_MARGIN = 1.5  # ... and raced if that extrapolates to less than this times the best FFT path
_DIRECT_FULL_S = 0.03  # below this limit (1.5x the best FFT path) the direct path is raced without a band
TUNE_MIN_WORK = 1 << 20  # N·C·B·Ho·Wo below which nothing is timed: the default path (see default_path)
_MAX_SHAPES = 8  # sizes timed per family of problems (all but the size alike) in one process; later sizes
# take the choice of the nearest timed size (a dataset of many image sizes does not time every image)
_DISK_FORMAT = 1


@dataclass(frozen=True)
class Path:
    """One way of computing reblur: ``transform`` "direct" (grouped conv2d), or the FFT engine with "opencv"
    or "torch" transforms, on helper threads (``threaded``) or not, FFT tiles of at most ``tile``²."""

    transform: str
    threaded: bool = False
    tile: int = 0

    @property
    def name(self) -> str:
        if self.transform == "direct":
            return "direct"
        return f"fft-{self.transform}-{'threads' if self.threaded else 'serial'}-t{self.tile}"

    @property
    def is_fft(self) -> bool:
        return self.transform != "direct"

    @staticmethod
    def parse(name: str, device: torch.device | str = "cpu") -> Path:
        """The path called ``name`` (``-tN`` optional: the device's default tile); ValueError if malformed."""
        parts = name.strip().lower().split("-")
        if parts == ["direct"]:
            return DIRECT
        ok = len(parts) in (3, 4) and parts[0] == "fft" and parts[1] in TRANSFORMS and parts[2] in ("threads",
                                                                                                   "serial")
        tile = _default_tile(torch.device(device))
        if ok and len(parts) == 4:
            ok = parts[3].startswith("t") and parts[3][1:].isdigit() and int(parts[3][1:]) > 0
            tile = int(parts[3][1:]) if ok else tile
        if not ok:
            raise ValueError(f"unknown reblur path {name!r}: expected 'direct' or 'fft-{{opencv|torch}}-"
                             f"{{threads|serial}}[-tN]', e.g. 'fft-torch-threads-t320'")
        return Path(parts[1], parts[2] == "threads", tile)


DIRECT = Path("direct")


def _default_tile(device: torch.device) -> int:
    return reblur_fft.TILE_DEFAULT if device.type == "cpu" else reblur_fft.TILE_ONE


def why_not(path: Path, device: torch.device) -> str | None:
    """Why ``path`` cannot run on tensors of ``device`` in this process, or None if it can."""
    if path.transform == "opencv" and device.type != "cpu":
        return f"OpenCV's DFT runs on CPU tensors only, these are on {device}"
    if path.threaded and device.type != "cpu":
        return f"the helper threads run on CPU tensors only, these are on {device}"
    if path.threaded and not reblur_fft.helpers_available():
        return "the helper threads need ATen's OpenMP runtime (found through /proc/self/maps), not found here"
    return None


def default_path(device: torch.device | str = "cpu") -> Path:
    """The path of problems too small to time (and the engine's path before the chooser): OpenCV's transforms
    in the calling thread on CPU, torch.fft in one tile elsewhere."""
    device = torch.device(device)
    return Path("opencv", False, reblur_fft.TILE_DEFAULT) if device.type == "cpu" else \
        Path("torch", False, reblur_fft.TILE_ONE)


def paths(device: torch.device | str = "cpu") -> list[Path]:
    """Every path that can run on tensors of ``device`` in this process (the direct path last)."""
    device = torch.device(device)
    tiles = TILES_CPU if device.type == "cpu" else (reblur_fft.TILE_ONE,)
    out = [Path(t, th, tile) for tile in tiles for t in TRANSFORMS for th in (True, False)]
    return [p for p in out if why_not(p, device) is None] + [DIRECT]


# ------------------------------------------------------------------------------------------ forcing
_LOCAL = threading.local()  # per thread: the path forced by force(), the last path that ran


@contextlib.contextmanager
def force(path: Path | str | None) -> Iterator[None]:
    """Run reblur calls of this thread in the block on ``path`` (a Path or a name; None: choose again)."""
    previous = getattr(_LOCAL, "forced", None)
    _LOCAL.forced = Path.parse(path) if isinstance(path, str) else path
    try:
        yield
    finally:
        _LOCAL.forced = previous


def forced_path(device: torch.device) -> Path | None:
    """The path forced by :func:`force` or by ``$BLURBENCH_REBLUR_PATH`` (the former first), or None."""
    path = getattr(_LOCAL, "forced", None)
    source = "force()"
    if path is None:
        name = os.environ.get(ENV, "").strip()
        if not name:
            return None
        source = f"{ENV}={name}"
        try:
            path = Path.parse(name, device)
        except ValueError as e:
            raise ConfigError(str(e), f"set {ENV} to one of {', '.join(p.name for p in paths(device))}, "
                                      "or unset it to let reblur choose") from None
    reason = why_not(path, device)
    if reason is not None:
        raise ConfigError(f"reblur path {path.name} ({source}) cannot run: {reason}",
                          f"use one of {', '.join(p.name for p in paths(device))}, or unset it")
    return path


def last_path() -> Path | None:
    """The path the last reblur / reblur_adjoint call of this thread ran on."""
    return getattr(_LOCAL, "last", None)


def record(path: Path) -> None:
    _LOCAL.last = path


# ------------------------------------------------------------------------------------------ choosing
_LOCK = threading.Lock()
_CHOICES: dict[Hashable, Path] = {}  # problem key -> chosen path (this process)
_TIMINGS: dict[Hashable, dict[str, float]] = {}  # problem key -> seconds per timed path (for the bench)
_FAMILIES: dict[Hashable, list[tuple[float, Path]]] = {}  # family -> (size, chosen path) of its timed problems
_DISK: dict | None = None  # this machine's section of the disk file, loaded once


def _processor(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type != "cpu":
        return device.type
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown processor"


def processor(device: torch.device | str = "cpu") -> str:
    """The processor model that runs tensors of ``device`` (the CPU's model name for CPU tensors)."""
    return _processor(torch.device(device))


def _machine(device: torch.device) -> str:
    return f"{_processor(device)}; torch {torch.__version__}; opencv {cv2.__version__}"


def _disk_file():
    return cache_dir() / "reblur_paths.json"


def _read_disk() -> dict:
    try:
        data = json.loads(_disk_file().read_text())
        return data if isinstance(data, dict) and data.get("format") == _DISK_FORMAT else {}
    except (OSError, ValueError):
        return {}  # absent or unreadable: a cache, so start afresh (the next choice rewrites it)


def _disk_lookup(machine: str, key: str) -> Path | None:
    global _DISK
    if _DISK is None:
        _DISK = _read_disk()
    name = _DISK.get("machines", {}).get(machine, {}).get(key)
    try:
        return Path.parse(name) if isinstance(name, str) else None
    except ValueError:
        return None


def _disk_store(machine: str, key: str | None, path: Path | None) -> None:
    """Record (or with ``key`` None, forget all of ``machine``'s) choices in the disk file; merge with what other
    processes wrote meanwhile; an unwritable cache only costs the timing again next time."""
    global _DISK

    data = _read_disk() or {"format": _DISK_FORMAT, "machines": {}}
    section = data.setdefault("machines", {}).setdefault(machine, {})
    if key is None:
        section.clear()
    else:
        section[key] = path.name
    try:
        _disk_file().parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(_disk_file(), data)
    except OSError:
        pass
    _DISK = data


def clear(disk: bool = False, device: torch.device | str = "cpu") -> None:
    """Forget the choices made in this process (and with ``disk``, this machine's choices on disk)."""
    with _LOCK:
        _CHOICES.clear()
        _TIMINGS.clear()
        _FAMILIES.clear()
        if disk:
            _disk_store(_machine(torch.device(device)), None, None)


def timings(key: Hashable) -> dict[str, float]:
    """Seconds per path measured when the problem ``key`` was tuned (empty if it was not timed here)."""
    return dict(_TIMINGS.get(key, {}))


def chosen(key: Hashable) -> Path | None:
    """The path chosen for the problem ``key`` in this process, if any."""
    return _CHOICES.get(key)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type != "cpu" and hasattr(torch, device.type) and hasattr(getattr(torch, device.type),
                                                                           "synchronize"):
        getattr(torch, device.type).synchronize()


def _seconds(run: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    run()
    _sync(device)
    return time.perf_counter() - t0


def _time_path(trial: Callable[[Path], object], path: Path, device: torch.device) -> float:
    """Seconds of one run of ``trial(path)``."""
    return _seconds(lambda: trial(path), device)


def _within_budget(start: float, best: dict[Path, float], expected: float) -> bool:
    """Whether one more run (of ``expected`` seconds) keeps this problem's tuning within its budget."""
    spent = time.perf_counter() - start
    return spent + expected <= max(_BUDGET_S, _BUDGET_RUNS * min(best.values()))


def _race(cands: list[Path], trial: Callable[[Path], object], device: torch.device, best: dict[Path, float],
          start: float, expected: float | None = None, warm_all: bool = False) -> None:
    """Warm-up run of each new candidate, drop the clearly slower ones, then up to two interleaved timed rounds:
    ``best`` gets the minimum time of each candidate (A/B/A/B: each sees the same machine state). Within the
    budget only (``expected``: a new candidate's guessed time, or None), except the warm-ups if ``warm_all``."""
    for p in cands:
        if p not in best and (warm_all or not best or _within_budget(start, best, expected or min(best.values()))):
            best[p] = _time_path(trial, p, device)
    fastest = min(best.values())
    alive = [p for p in cands if p in best and best[p] <= _WARMUP_DROP * fastest]
    for _ in range(_TIMED_ROUNDS):
        for p in alive:
            if not _within_budget(start, best, best[p]):
                return
            best[p] = min(best[p], _time_path(trial, p, device))


def choose(key: Hashable, device: torch.device, trial: Callable[[Path], object],
           plan_of: Callable[[Path], Hashable], direct_estimate: Callable[[float], float | None],
           family: Hashable | None = None, size: float = float(TUNE_MIN_WORK)) -> Path:
    """The path for the problem ``key``: the forced one; :func:`default_path` if its work ``size``
    (N·C·B·Ho·Wo) is below ``TUNE_MIN_WORK``; the one chosen before (this process, then the disk file); once
    ``_MAX_SHAPES`` problems of the same ``family`` were timed, the choice for the nearest ``size``; or the
    fastest by timing ``trial(path)`` (which runs the call's problem on ``path``).

    ``plan_of(path)`` names the tiling an FFT path would use (tile sizes that tile alike are timed once);
    ``direct_estimate(limit)`` returns the direct path's seconds extrapolated from a band of the output (it may
    stop at a first guess above ``limit``: the direct path is raced only below it), or None: race it.
    """
    path = forced_path(device)
    if path is not None:
        return path
    if size < TUNE_MIN_WORK:
        return default_path(device)
    hit = _CHOICES.get(key)
    if hit is not None:
        return hit
    machine, skey = _machine(device), str(key)
    with _LOCK:
        hit = _disk_lookup(machine, skey)
    if hit is not None and why_not(hit, device) is None:
        _CHOICES[key] = hit
        return hit
    timed = _FAMILIES.get(family, []) if family is not None else []
    if len(timed) >= _MAX_SHAPES:
        _CHOICES[key] = min(timed, key=lambda sp: abs(math.log(sp[0] / size)))[1]
        return _CHOICES[key]
    start = time.perf_counter()
    cands = paths(device)
    default = _default_tile(device)
    best: dict[Path, float] = {}
    _race([p for p in cands if p.is_fft and p.tile == default], trial, device, best, start, warm_all=True)
    win = min(best, key=best.get)
    seen = {plan_of(win)}
    others = []
    for p in cands:
        if p.is_fft and p.transform == win.transform and p.threaded == win.threaded and plan_of(p) not in seen:
            seen.add(plan_of(p))
            others.append(p)
    if others:
        _race([win] + others, trial, device, best, start)
        win = min(best, key=best.get)
    estimate = direct_estimate(_DIRECT_MARGIN * best[win])
    if estimate is None or estimate < _DIRECT_MARGIN * best[win]:
        _race([win, DIRECT], trial, device, best, start, expected=estimate, warm_all=estimate is None)
        win = min(best, key=best.get)
    with _LOCK:
        _CHOICES[key] = win
        _TIMINGS[key] = {p.name: t for p, t in best.items()}
        if estimate is not None:
            _TIMINGS[key]["direct (band estimate)"] = estimate
        if family is not None:
            _FAMILIES.setdefault(family, []).append((size, win))
        if not _overloaded():
            _disk_store(machine, skey, win)
    return win


def _overloaded() -> bool:
    try:
        return os.getloadavg()[0] >= (os.cpu_count() or 1)
    except OSError:  # (no load average on this platform)
        return False
