"""Peak memory of `blurbench predict` on large photos (12 MP and 24 MP) for every image method runnable here.

Each run is a separate `python -m blurbench predict` process, measured with wait4's peak resident set (ru_maxrss),
one at a time (the machine's memory is shared). The high-water mark survives fork and exec, so this parent stays
small: photos are made and the method list is read in child processes, and it never imports torch. The reference,
measured in the same run, is `identity` (decode, tile, encode: the floor of any method); every figure is printed
with its ratio to it. Image-to-image methods run in tiles (blurbench.tasks.tiling.TILE with MARGIN of context);
kernel-estimation methods refuse images above their limit (blurbench.tasks.tiling.field_limit: FIELD_MAX_PIXELS, less
for a wide network) with one line, so they are also measured at that limit. ``--evaluate a,b`` also measures
``blurbench evaluate --suite folder`` on one pair of that size (the photo upscaled as sharp, a 9-px horizontal box blur
of it plus noise as blurry), report pictures included, per method. Exit code 1 if any peak is over the budget.

``--random-weights`` also measures the image methods whose weights are not on this machine (the released Carbajal et
al. network, DRUNet): each missing zoo model gets a file in its official key layout with random values (our modules
have the official layout, key for key: tests/test_architectures.py), converted with ``blurbench zoo convert NAME
--checkpoint FILE --out DIR`` as a user converts a downloaded file, and the method runs as an ``@FILE.yaml`` stand-in:
the registered task and configuration with each weight name replaced by its directory. Memory does not depend on the
weights' values; their printed name ends in ``*``. ``--max-seconds S`` stops a run after S seconds (SIGTERM) and prints
its peak so far as a lower bound (``>=``); ``--kill-above-gb`` stops a run whose resident set grows past it.
``--tile-estimate`` is for methods too slow to run on every tile (DRUNet HSD: ~15 network calls per tile): each tiled
method runs on one interior tile (TILE + 2 MARGIN px square, processed whole like a tile) and its peak at each size is
estimated as that peak + identity's peak at the size - identity's peak on the tile (the whole-image buffers: decoded
photo, input and output tensors, encoding); kernel-estimation methods are measured as without it. ``--set KEY=JSON``
overrides an init arg of the field-deblurring stand-ins: ``--set iterations=2 --set 'solver_args={"stages": 1}'``
runs HSD with one denoiser call, whose working set the official 15 calls repeat.

    python bench/bench_predict_memory.py [--budget-gb 6] [--methods a,b] [--sizes 24,12] [--evaluate a,b]
                                         [--random-weights] [--set KEY=JSON] [--tile-estimate]
                                         [--max-seconds S] [--kill-above-gb 12]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SIZES_MP = {12: (4240, 2832), 24: (6000, 4000)}


def processor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def make_photo(path: Path, width: int, height: int, kind: str = "blurry") -> None:
    """A deterministic photo-like JPEG: a built-in photograph upscaled, plus seeded sensor noise. ``kind``:
    ``blurry`` (the built-in blurry photo), ``sharp`` (its sharp one, no noise) or ``pair`` (``path`` is a folder:
    ``sharp/photo.jpg`` and ``blurry/photo.jpg``, the sharp one box-blurred 9 px horizontally plus noise)."""
    import cv2
    import numpy as np

    from blurbench.datamodules import builtin

    src = cv2.imread(str(builtin.prepare("motion") / "astronaut" / f"{'blurry' if kind == 'blurry' else 'sharp'}.png"))
    big = cv2.resize(src, (width, height), interpolation=cv2.INTER_CUBIC)
    if kind == "pair":
        for sub in ("sharp", "blurry"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path / "sharp" / "photo.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 92])
        big = cv2.blur(big, (9, 1))
        path = path / "blurry" / "photo.jpg"
    big = big.astype(np.float32) + np.random.default_rng(0).normal(0, 2.0, big.shape).astype(np.float32)
    cv2.imwrite(str(path), np.clip(big, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 92])


#: stop conditions of a run (``peak_of``): None, or why it was stopped
LIMITS: dict[str, float | None] = {"max_seconds": None, "kill_above_gb": None}


def peak_of_predict(method: str, photo: Path, out: Path) -> tuple[float, int, str, float]:
    """(peak RSS in GiB, exit code, last stderr line, seconds) of one predict process."""
    return peak_of(["predict", "--method", method, "--input", str(photo), "--output", str(out)])


def _rss_gib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    except (OSError, ValueError):
        pass
    return 0.0


def _watch(proc: subprocess.Popen, stopped: list[str], done: threading.Event) -> None:
    """Stop ``proc`` after LIMITS["max_seconds"] (SIGTERM: it keeps what it wrote) or when its resident set passes
    LIMITS["kill_above_gb"] (SIGKILL: the machine's memory is shared); record why in ``stopped``."""
    start, seconds, cap = time.monotonic(), LIMITS["max_seconds"], LIMITS["kill_above_gb"]
    while not done.wait(0.5):
        if cap is not None and _rss_gib(proc.pid) > cap:
            stopped.append(f"killed above {cap:g} GiB")
            proc.send_signal(signal.SIGKILL)
            return
        if seconds is not None and time.monotonic() - start > seconds:
            stopped.append(f"stopped after {seconds:g} s")
            proc.send_signal(signal.SIGTERM)
            if not done.wait(60):  # the handler runs between torch ops, which can take long on a loaded machine
                proc.send_signal(signal.SIGKILL)
            return


def peak_of(argv: list[str]) -> tuple[float, int, str, float]:
    """(peak RSS in GiB, exit code, last stderr line, seconds) of one ``blurbench ARGV`` process on the CPU; a run
    stopped by LIMITS has exit code -1 and the reason as its line."""
    cmd = [sys.executable, "-m", "blurbench", *argv, "--accelerator", "cpu", "--no-progress"]
    start = time.perf_counter()
    stopped: list[str] = []
    done = threading.Event()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        watcher = threading.Thread(target=_watch, args=(proc, stopped, done), daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        watcher.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = [line for line in err.read().splitlines() if line.strip()]
    if stopped:
        return usage.ru_maxrss / 2**20, -1, stopped[0], time.perf_counter() - start
    return usage.ru_maxrss / 2**20, proc.returncode, (lines[-1] if lines else ""), time.perf_counter() - start


def _child(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def make_stand_ins(directory: Path, methods: list[str], overrides: dict[str, object] | None = None) -> dict[str, str]:
    """``@FILE.yaml`` stand-ins (method -> ``@path``) for ``methods`` whose zoo weights are missing here: random
    weights in each model's official layout, converted by ``blurbench zoo convert`` (module doc). ``overrides``
    update the init args of the field-deblurring stand-ins (``--set``)."""
    import torch
    import yaml

    from blurbench.tasks.registry import get_method
    from blurbench.zoo import load
    from blurbench.zoo.registry import get_model_spec

    torch.manual_seed(0)
    converted: dict[str, str] = {}
    stand_ins = {}
    for name in methods:
        spec = get_method(name)
        for model in spec.missing_weights():
            if model in converted:
                continue
            official = directory / (get_model_spec(model).weights.filename or f"{model}.pth")
            # a randomly initialised module of ours is a state dict in the official layout (same keys and shapes)
            torch.save(load(model, pretrained=False).state_dict(), official)
            out = directory / model
            subprocess.run([sys.executable, "-m", "blurbench", "zoo", "convert", model, "--checkpoint", str(official),
                            "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
            official.unlink()
            converted[model] = str(out)

        def substitute(value: object) -> object:
            if isinstance(value, dict):
                return {k: substitute(v) for k, v in value.items()}
            return converted.get(value, value) if isinstance(value, str) else value

        config = substitute(dict(spec.config))
        if config.get("denoiser") == "drunet" and "drunet-color" in converted:  # the zoo denoiser, named implicitly
            config["denoiser"] = converted["drunet-color"]
        if "solver" in config:
            config.update(overrides or {})
        factory = spec.factory if isinstance(spec.factory, str) else f"{spec.factory.__module__}:" \
                                                                     f"{spec.factory.__qualname__}"
        path = directory / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"name": f"{name}*", "class_path": factory.replace(":", "."),
                                        "init_args": config}))
        stand_ins[name] = f"@{path}"
    return stand_ins


def main() -> int:
    if sys.argv[1:2] == ["--make-photo"]:  # child mode: keeps the decoded photo out of the measuring parent
        make_photo(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:6])
        return 0
    if sys.argv[1:2] == ["--make-stand-ins"]:  # child mode: torch stays out of the measuring parent
        print(json.dumps(make_stand_ins(Path(sys.argv[2]), sys.argv[3].split(","), json.loads(sys.argv[4]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-gb", type=float, default=6.0)
    parser.add_argument("--methods", default=None, help="comma-separated (default: every image method runnable here)")
    parser.add_argument("--sizes", default="24,12", help="megapixels among 24, 12, in this order")
    parser.add_argument("--evaluate", default="", help="comma-separated methods to measure `evaluate` with too")
    parser.add_argument("--random-weights", action="store_true",
                        help="also measure methods whose weights are missing here, with random weights (module doc)")
    parser.add_argument("--max-seconds", type=float, default=None, help="stop a run after this long (lower bound)")
    parser.add_argument("--kill-above-gb", type=float, default=None, help="kill a run whose RSS grows past this")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="init arg of the field-deblurring stand-ins, e.g. iterations=2 (module doc)")
    parser.add_argument("--tile-estimate", action="store_true",
                        help="run tiled methods on one interior tile only; estimate each size (module doc)")
    args = parser.parse_args()
    LIMITS.update(max_seconds=args.max_seconds, kill_above_gb=args.kill_above_gb)
    overrides = {k: json.loads(v) for k, _, v in (item.partition("=") for item in args.set)}

    MARGIN, TILE, TILE_ABOVE = json.loads(_child(
        "import json; from blurbench.tasks.tiling import MARGIN as M, TILE as T, TILE_ABOVE as A;"
        " print(json.dumps([M, T, A]))"))
    registered = json.loads(_child("from blurbench.cli import main; main(['methods', '--json'])"))
    wanted = [m["name"] for m in registered if m["data_kind"] in ("image", "detection")
              and "GT blur field" not in m["needs"] and (m["runnable"] or args.random_weights)]
    names = [] if args.methods == "" else args.methods.split(",") if args.methods else wanted
    names = ["identity", *[n for n in names if n != "identity"]]
    task = {m["name"]: m["task"] for m in registered}
    weightless = [n for n in names if any(m["name"] == n and not m["runnable"] for m in registered)]
    processor_line = (f"processor: {processor()}; load {os.getloadavg()[0]:.1f} (wall times depend on it); torch "
                      f"threads default; tiles {TILE} px + {MARGIN} px margin above {TILE_ABOVE / 1e6:.1f} MP")
    over, partial = [], []
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        source = {n: n for n in names}
        if weightless and args.random_weights:
            source.update(json.loads(subprocess.run(
                [sys.executable, __file__, "--make-stand-ins", tmp, ",".join(weightless), json.dumps(overrides)],
                check=True,
                capture_output=True, text=True).stdout))
        estimators = [n for n in names if task.get(n) == "kernel-estimation"]
        limits = json.loads(_child(
            "import json; from blurbench.tasks.registry import get_method; from blurbench.tasks.tiling import "
            f"field_limit; print(json.dumps([field_limit(get_method(s)) for s in {[source[n] for n in estimators]}]))"))
        limit_of = dict(zip(estimators, limits))
        print(f"{processor_line}; kernel estimation limited to "
              f"{', '.join(sorted({f'{v / 1e6:g}' for v in limits}, reverse=True)) or '-'} MP")
        photos = {}
        sizes = [int(s) for s in args.sizes.split(",")]
        for mp in sizes:
            photos[mp] = Path(tmp) / f"photo_{mp}mp.jpg"
            subprocess.run([sys.executable, __file__, "--make-photo", str(photos[mp]), *map(str, SIZES_MP[mp])],
                           check=True)
        for pixels in sorted(set(limits)):
            w = int((pixels * 3 / 2) ** 0.5)
            photos[pixels / 1e6] = Path(tmp) / f"photo_limit_{pixels}.jpg"
            subprocess.run([sys.executable, __file__, "--make-photo", str(photos[pixels / 1e6]), str(w),
                            str(pixels // w)], check=True)
        reference: dict[float, float] = {}
        print(f"{'method':28s} {'MP':>5s} {'peak GiB':>9s} {'x identity':>10s} {'seconds':>8s}  result")
        tiled = [n for n in names if n != "identity" and n not in estimators] if args.tile_estimate else []
        runs = [(mp, name) for mp in sizes for name in names if name not in tiled]  # the largest first (24,12)
        runs += [(limit_of[name] / 1e6, name) for name in estimators]
        tile_mp = (TILE + 2 * MARGIN) ** 2 / 1e6
        if tiled:  # one interior tile, whole (it is under TILE_ABOVE): the working set every tile repeats
            photos[tile_mp] = Path(tmp) / "photo_tile.jpg"
            subprocess.run([sys.executable, __file__, "--make-photo", str(photos[tile_mp]),
                            *[str(TILE + 2 * MARGIN)] * 2], check=True)
            runs += [(tile_mp, name) for name in ["identity", *tiled]]
        peaks: dict[tuple[str, float], float] = {}
        for mp, name in runs:
            peak, code, last, seconds = peak_of_predict(source[name], photos[mp], Path(tmp) / f"out_{name}_{mp}")
            if name == "identity":
                reference[mp] = peak
            elif mp not in reference:
                reference[mp] = peak_of_predict("identity", photos[mp], Path(tmp) / f"out_identity_{mp}")[0]
            ratio = peak / reference[mp] if mp in reference else float("nan")
            result = "ok" if code == 0 else f"exit {code}: {last[:150]}"
            label = f"{name}*" if source[name] != name else name
            bound = ">=" if code == -1 else ""
            print(f"{label:28s} {mp:5.1f} {bound:>2s}{peak:7.2f} {ratio:10.2f} {seconds:8.1f}  {result}", flush=True)
            peaks[name, mp] = peak
            if peak > args.budget_gb or code not in (0, 2, -1):
                over.append((label, mp, peak, code))
            elif code == -1:
                partial.append((label, mp, peak, last))
        for name in tiled:  # estimate: tile working set + the whole-image buffers identity has at that size
            for mp in sizes:
                est = peaks[name, tile_mp] + peaks["identity", mp] - peaks["identity", tile_mp]
                label = f"{name}{'*' if source[name] != name else ''} (est.)"
                print(f"{label:28s} {mp:5.1f} {est:9.2f} {est / peaks['identity', mp]:10.2f} {'':>8s}  tile "
                      f"{peaks[name, tile_mp]:.2f} + identity {peaks['identity', mp]:.2f} - "
                      f"{peaks['identity', tile_mp]:.2f}", flush=True)
                if est > args.budget_gb:
                    over.append((label, mp, est, 0))
        for mp in sizes if args.evaluate else []:
            pair = Path(tmp) / f"pair_{mp}mp"
            subprocess.run([sys.executable, __file__, "--make-photo", str(pair), *map(str, SIZES_MP[mp]), "pair"],
                           check=True)
            for name in args.evaluate.split(","):
                peak, code, last, seconds = peak_of(["evaluate", "--suite", "folder", "--data-root", str(pair),
                                                     "--methods", name, "--out", str(Path(tmp) / f"ev_{name}_{mp}")])
                result = "ok" if code == 0 else f"exit {code}: {last[:150]}"
                label = f"evaluate {name}"
                print(f"{label:28s} {mp:5.1f} {peak:9.2f} {peak / reference.get(mp, float('nan')):10.2f} "
                      f"{seconds:8.1f}  {result}", flush=True)
                if peak > args.budget_gb or code != 0:
                    over.append((label, mp, peak, code))
    if any(source[n] != n for n in names):
        print("* random weights in the official layout, converted by `blurbench zoo convert` (--random-weights)"
              + (f"; field-deblurring stand-ins with {json.dumps(overrides)}" if overrides else ""))
    if partial:
        print(f"stopped before the end (their peak is a lower bound): {partial}")
    if over:
        print(f"over the {args.budget_gb} GiB budget or failed: {over}")
        return 1
    print(f"every peak under {args.budget_gb} GiB" + (" (stopped runs: so far)" if partial else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
