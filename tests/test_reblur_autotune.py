"""The reblur path chooser (blurbench.ops.reblur_autotune): forcing, the race, caches, what it may pick.

Timing is faked where the choice is checked (the tests never depend on the machine's speed)."""

import json

import pytest
import torch

import blurbench.ops.reblur_fft as engine
from blurbench.errors import ConfigError
from blurbench.ops import reblur_autotune as autotune
from blurbench.ops.reblur import problem_key, reblur, reblur_adjoint, reblur_reference
from blurbench.ops.reblur_autotune import DIRECT, Path

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch):
    """No choice from another test, a disk cache of this test's own, nothing forced, an idle machine."""
    monkeypatch.setenv("BLURBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv(autotune.ENV, raising=False)
    monkeypatch.setattr(autotune, "_DISK", None)
    monkeypatch.setattr(autotune, "_overloaded", lambda: False)
    monkeypatch.setattr(autotune, "TUNE_MIN_WORK", 0)  # the tests' problems are small
    autotune.clear()
    yield
    autotune.clear()


def _problem(h=24, w=20, b=5, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, 3, h, w, generator=g), torch.rand(1, b, k, k, generator=g),
            torch.rand(1, b, h, w, generator=g))


def test_path_names_round_trip():
    names = [p.name for p in autotune.paths(CPU)]
    assert names[-1] == "direct" and len(set(names)) == len(names)
    assert all(Path.parse(n) == p for n, p in zip(names, autotune.paths(CPU)))
    assert Path.parse("fft-torch-serial") == Path("torch", False, engine.TILE_DEFAULT)
    assert Path.parse("FFT-OpenCV-threads-t64") == Path("opencv", True, 64)
    assert Path.parse("fft-torch-serial", "cuda").tile == engine.TILE_ONE
    for bad in ("fft", "fft-cufft-serial", "fft-torch-sometimes", "fft-torch-serial-64", "fft-torch-serial-t0", ""):
        with pytest.raises(ValueError, match="unknown reblur path"):
            Path.parse(bad)


def test_env_var_forces_a_path_without_timing(monkeypatch):
    monkeypatch.setenv(autotune.ENV, "fft-torch-serial-t64")
    sharp, kernels, mixing = _problem()
    out = reblur(sharp, kernels, mixing)
    assert autotune.last_path() == Path("torch", False, 64)
    assert autotune.chosen(problem_key("reblur", sharp, kernels, mixing, "reflect")) is None  # nothing timed
    ref = reblur_reference(sharp, kernels, mixing)
    assert (out - ref).abs().max() / ref.abs().max() < 1e-5
    monkeypatch.setenv(autotune.ENV, "direct")
    reblur_adjoint(out, kernels, mixing)
    assert autotune.last_path() == DIRECT
    with autotune.force("fft-opencv-serial"):  # force() wins over the variable, in this thread
        reblur(sharp, kernels, mixing)
        assert autotune.last_path() == Path("opencv", False, engine.TILE_DEFAULT)


def test_small_problems_take_the_default_path_untimed(monkeypatch):
    """Below TUNE_MIN_WORK (N·C·B·Ho·Wo) nothing is timed: the default path (the same bits in every process)."""
    monkeypatch.setattr(autotune, "TUNE_MIN_WORK", 3 * 5 * 24 * 20 + 1)
    runs = _fake_race(monkeypatch, {})
    sharp, kernels, mixing = _problem()
    reblur(sharp, kernels, mixing)
    assert autotune.last_path() == autotune.default_path(CPU) == Path("opencv", False, engine.TILE_DEFAULT)
    assert not runs and autotune.chosen(problem_key("reblur", sharp, kernels, mixing, "reflect")) is None
    assert autotune.default_path("cuda") == Path("torch", False, engine.TILE_ONE)
    monkeypatch.setattr(autotune, "TUNE_MIN_WORK", 3 * 5 * 24 * 20)
    with pytest.raises(KeyError):  # at the threshold: timed (the fake race has no times)
        reblur(sharp, kernels, mixing)


def test_bad_or_impossible_forced_path_is_a_clear_error(monkeypatch):
    sharp, kernels, mixing = _problem()
    monkeypatch.setenv(autotune.ENV, "fft-fastest")
    with pytest.raises(ConfigError, match="unknown reblur path 'fft-fastest'.*BLURBENCH_REBLUR_PATH"):
        reblur(sharp, kernels, mixing)
    assert "CPU tensors only" in autotune.why_not(Path("opencv", False, 320), torch.device("cuda"))
    assert "CPU tensors only" in autotune.why_not(Path("torch", True, 320), torch.device("cuda"))
    assert autotune.why_not(Path("torch", False, 4096), torch.device("cuda")) is None
    assert [p.name for p in autotune.paths("cuda")] == ["fft-torch-serial-t4096", "direct"]


def test_without_openmp_the_serial_paths_only(monkeypatch):
    """Where ATen's OpenMP runtime cannot be found (not Linux, another runtime), the helper-thread paths are
    not offered, forcing one is an error, and the chooser picks among the others."""
    monkeypatch.setattr(engine, "_OPENMP", None)
    monkeypatch.setattr(engine, "_find_openmp", lambda: None)
    assert not engine.helpers_available()
    assert not any(p.threaded for p in autotune.paths(CPU))
    sharp, kernels, mixing = _problem()
    with autotune.force("fft-torch-threads"), pytest.raises(ConfigError, match="OpenMP runtime"):
        reblur(sharp, kernels, mixing)
    out = reblur(sharp, kernels, mixing)
    assert not autotune.last_path().threaded
    ref = reblur_reference(sharp, kernels, mixing)
    assert (out - ref).abs().max() / ref.abs().max() < 1e-5


def _fake_race(monkeypatch, seconds):
    """Fake the timing: each run of a path takes ``seconds[path.name]`` (after really running it)."""
    runs = []

    def time_path(trial, path, device):
        trial(path)
        runs.append(path.name)
        return seconds[path.name]

    monkeypatch.setattr(autotune, "_time_path", time_path)
    return runs


FAKE = {"fft-opencv-threads-t320": 3.0, "fft-opencv-serial-t320": 4.0, "fft-torch-threads-t320": 2.0,
        "fft-torch-serial-t320": 2.5, "fft-torch-threads-t448": 1.5, "fft-torch-threads-t256": 9.0, "direct": 1.0}


def _plan_of(path):  # 320 and 448 tile alike here (timed once); 256 tiles differently
    return min(path.tile, 320) if path.tile != 256 else 256


@pytest.mark.skipif(not engine.helpers_available(), reason="the helper-thread paths cannot run here")
def test_race_picks_the_fastest_once_and_remembers(monkeypatch):
    runs = _fake_race(monkeypatch, FAKE)
    trials = []
    key = ("a problem",)
    path = autotune.choose(key, CPU, trials.append, _plan_of, direct_estimate=lambda limit: 10.0)
    assert path == Path("torch", True, 320)  # 448 plans like 320: not raced; direct estimated too slow
    assert set(runs) == {"fft-opencv-threads-t320", "fft-opencv-serial-t320", "fft-torch-threads-t320",
                         "fft-torch-serial-t320", "fft-torch-threads-t256"}
    assert runs.count("fft-opencv-serial-t320") == 3  # warm-up and two timed rounds (2x the best: kept)
    assert runs.count("fft-torch-threads-t256") == 1  # 4.5x the best after its warm-up: dropped
    assert trials == [Path.parse(n) for n in runs]
    assert autotune.chosen(key) == path and autotune.timings(key)["fft-torch-serial-t320"] == 2.5
    n = len(runs)
    assert autotune.choose(key, CPU, trials.append, _plan_of, lambda limit: 10.0) == path and len(runs) == n
    # the next process: from the disk file, keyed by the processor model
    autotune.clear()
    monkeypatch.setattr(autotune, "_DISK", None)
    assert autotune.choose(key, CPU, trials.append, _plan_of, lambda limit: 10.0) == path and len(runs) == n
    data = json.loads(autotune._disk_file().read_text())
    (machine,) = data["machines"]
    assert machine.startswith(autotune.processor(CPU)) and data["machines"][machine][str(key)] == path.name
    # forgotten on disk too: timed again
    autotune.clear(disk=True)
    monkeypatch.setattr(autotune, "_DISK", None)
    autotune.choose(key, CPU, trials.append, _plan_of, lambda limit: 10.0)
    assert len(runs) > n


def test_race_tries_other_tiles_and_the_direct_path_when_it_may_win(monkeypatch):
    seconds = {**FAKE, "fft-torch-threads-t320": 5.0, "fft-torch-serial-t320": 2.0, "fft-torch-serial-t256": 1.5}
    runs = _fake_race(monkeypatch, seconds)
    monkeypatch.setattr(autotune, "paths", lambda device: [Path(t, False, s) for s in (320, 448, 256)
                                                           for t in ("opencv", "torch")] + [DIRECT])
    path = autotune.choose(("p",), CPU, lambda p: None, _plan_of, direct_estimate=lambda limit: 2.0)
    assert path == DIRECT and "fft-torch-serial-t256" in runs and "fft-torch-serial-t448" not in runs
    runs.clear()
    assert autotune.choose(("q",), CPU, lambda p: None, _plan_of, direct_estimate=lambda limit: 3.0) == \
        Path("torch", False, 256) and "direct" not in runs  # 3.0 >= 1.5 x 1.5: not raced
    runs.clear()
    assert autotune.choose(("r",), CPU, lambda p: None, _plan_of, direct_estimate=lambda limit: None) == DIRECT
    assert runs.count("direct") == 3  # no estimate (cheap problems): raced in full


def test_budget_bounds_the_timing(monkeypatch):
    """Past its budget the race stops: the first round of candidates only (one run each), nothing else."""
    runs = _fake_race(monkeypatch, FAKE | {"fft-opencv-serial-t256": 0.5})
    monkeypatch.setattr(autotune, "_BUDGET_S", 0.0)
    monkeypatch.setattr(autotune, "_BUDGET_RUNS", 0)
    path = autotune.choose(("bounded",), CPU, lambda p: None, _plan_of, direct_estimate=lambda limit: 0.1)
    first = [p.name for p in autotune.paths(CPU) if p.is_fft and p.tile == engine.TILE_DEFAULT]
    assert sorted(runs) == sorted(first) and path == Path.parse(min(first, key=FAKE.get))


def test_many_sizes_of_one_problem_are_not_all_timed(monkeypatch):
    """A dataset of many image sizes: past _MAX_SHAPES timed sizes, the choice of the nearest size is reused."""
    monkeypatch.setattr(autotune, "_MAX_SHAPES", 2)
    runs = _fake_race(monkeypatch, FAKE | {"fft-torch-serial-t256": 9.0, "fft-opencv-serial-t256": 9.0})
    small = autotune.choose(("s", 1), CPU, lambda p: None, _plan_of, lambda limit: 0.1, family="f", size=100.0)
    runs.clear()
    big = autotune.choose(("s", 2), CPU, lambda p: None, _plan_of, lambda limit: 10.0, family="f", size=1e6)
    assert small == DIRECT and big != DIRECT and runs
    runs.clear()
    assert autotune.choose(("s", 3), CPU, lambda p: None, _plan_of, lambda limit: 0.1, family="f", size=2e5) == big
    assert autotune.choose(("s", 4), CPU, lambda p: None, _plan_of, lambda limit: 0.1, family="f", size=90.0) == small
    assert not runs and autotune.chosen(("s", 3)) == big
    assert autotune.choose(("t", 1), CPU, lambda p: None, _plan_of, lambda limit: 0.1, family="g", size=1e6) == DIRECT


def test_overloaded_machine_keeps_the_choice_in_memory_only(monkeypatch):
    _fake_race(monkeypatch, FAKE | {"fft-torch-serial-t256": 9.0, "fft-opencv-serial-t256": 9.0})
    monkeypatch.setattr(autotune, "_overloaded", lambda: True)
    path = autotune.choose(("busy",), CPU, lambda p: None, _plan_of, lambda limit: 10.0)
    assert autotune.chosen(("busy",)) == path
    assert not autotune._disk_file().exists()


@pytest.mark.parametrize("grad", [False, True])
def test_real_choice_is_a_runnable_path_with_the_same_values(grad):
    """Unfaked: the chooser times the candidates on the call's inputs (forward, or forward and backward when
    gradients are needed) and the call runs on the chosen path; the inputs' own gradients are untouched."""
    sharp, kernels, mixing = _problem(30, 26, b=6, k=7)
    args = [t.clone().requires_grad_(grad) for t in (sharp, kernels, mixing)]
    out = reblur(*args)
    key = problem_key("reblur", *args, "reflect")
    assert key[1] == ("grad=TTT" if grad else "grad=FFF")
    path = autotune.chosen(key)
    assert autotune.last_path() == path and path in autotune.paths(CPU)
    assert set(autotune.timings(key)) >= {p.name for p in autotune.paths(CPU) if p.is_fft and p.tile == 320}
    assert all(a.grad is None for a in args)
    ref = reblur_reference(sharp, kernels, mixing)
    assert (out.detach() - ref).abs().max() / ref.abs().max() < 1e-5
    if grad:
        out.sum().backward()
        assert all(a.grad is not None for a in args)
