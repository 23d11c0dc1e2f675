"""Peak memory of `blurbench predict` on large photos (12 MP and 24 MP) for every image method runnable here.

Each run is a separate `python -m blurbench predict` process, measured with wait4's peak resident set (ru_maxrss),
one at a time (the machine's memory is shared). The high-water mark survives fork and exec, so this parent stays
small: photos are made and the method list is read in child processes, and it never imports torch. The reference,
measured in the same run, is `identity` (decode, tile, encode: the floor of any method); every figure is printed
with its ratio to it. Image-to-image methods run in tiles (blurbench.tasks.tiling.TILE with MARGIN of context);
kernel-estimation methods refuse images above FIELD_MAX_PIXELS with one line, so they are also measured at that
limit. ``--evaluate a,b`` also measures ``blurbench evaluate --suite folder`` on one pair of that size (the photo
upscaled as sharp, a 9-px horizontal box blur of it plus noise as blurry), report pictures included, per method.
Exit code 1 if any peak is over the budget.

    python bench/bench_predict_memory.py [--budget-gb 6] [--methods a,b] [--sizes 24,12] [--evaluate a,b]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
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


def peak_of_predict(method: str, photo: Path, out: Path) -> tuple[float, int, str, float]:
    """(peak RSS in GiB, exit code, last stderr line, seconds) of one predict process."""
    return peak_of(["predict", "--method", method, "--input", str(photo), "--output", str(out)])


def peak_of(argv: list[str]) -> tuple[float, int, str, float]:
    """(peak RSS in GiB, exit code, last stderr line, seconds) of one ``blurbench ARGV`` process on the CPU."""
    cmd = [sys.executable, "-m", "blurbench", *argv, "--accelerator", "cpu", "--no-progress"]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = [line for line in err.read().splitlines() if line.strip()]
    return usage.ru_maxrss / 2**20, proc.returncode, (lines[-1] if lines else ""), time.perf_counter() - start


def _child(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def main() -> int:
    if sys.argv[1:2] == ["--make-photo"]:  # child mode: keeps the decoded photo out of the measuring parent
        make_photo(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:6])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-gb", type=float, default=6.0)
    parser.add_argument("--methods", default=None, help="comma-separated (default: every image method runnable here)")
    parser.add_argument("--sizes", default="24,12", help="megapixels among 24, 12, in this order")
    parser.add_argument("--evaluate", default="", help="comma-separated methods to measure `evaluate` with too")
    args = parser.parse_args()

    import json

    FIELD_MAX_PIXELS, MARGIN, TILE, TILE_ABOVE = json.loads(_child(
        "import json; from blurbench.tasks.tiling import FIELD_MAX_PIXELS as F, MARGIN as M, TILE as T,"
        " TILE_ABOVE as A;"
        " print(json.dumps([F, M, T, A]))"))
    registered = json.loads(_child("from blurbench.cli import main; main(['methods', '--json'])"))
    names = [] if args.methods == "" else args.methods.split(",") if args.methods else [
        m["name"] for m in registered if m["data_kind"] in ("image", "detection") and "GT blur field" not in m["needs"]
        and m["runnable"]]
    names = ["identity", *[n for n in names if n != "identity"]]
    task = {m["name"]: m["task"] for m in registered}
    print(f"processor: {processor()}; load {os.getloadavg()[0]:.1f} (wall times depend on it); torch threads "
          f"default; tiles {TILE} px + {MARGIN} px margin above {TILE_ABOVE / 1e6:.1f} MP; kernel estimation "
          f"limited to {FIELD_MAX_PIXELS / 1e6:.0f} MP")
    over = []
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        photos = {}
        sizes = [int(s) for s in args.sizes.split(",")]
        field_mp = FIELD_MAX_PIXELS / 1e6
        for mp in sizes:
            photos[mp] = Path(tmp) / f"photo_{mp}mp.jpg"
            subprocess.run([sys.executable, __file__, "--make-photo", str(photos[mp]), *map(str, SIZES_MP[mp])],
                           check=True)
        w = int((FIELD_MAX_PIXELS * 3 / 2) ** 0.5)
        photos[field_mp] = Path(tmp) / "photo_limit.jpg"
        subprocess.run([sys.executable, __file__, "--make-photo", str(photos[field_mp]), str(w),
                        str(FIELD_MAX_PIXELS // w)], check=True)
        reference: dict[float, float] = {}
        print(f"{'method':28s} {'MP':>5s} {'peak GiB':>9s} {'x identity':>10s} {'seconds':>8s}  result")
        runs = [(mp, name) for mp in sizes for name in names]  # the largest first when --sizes 24,12
        runs += [(field_mp, name) for name in names if task.get(name) == "kernel-estimation"]
        for mp, name in runs:
            peak, code, last, seconds = peak_of_predict(name, photos[mp], Path(tmp) / f"out_{name}_{mp}")
            if name == "identity":
                reference[mp] = peak
            elif mp == field_mp and field_mp not in reference:
                reference[mp] = peak_of_predict("identity", photos[mp], Path(tmp) / "out_identity_limit")[0]
            ratio = peak / reference[mp] if mp in reference else float("nan")
            result = "ok" if code == 0 else f"exit {code}: {last[:150]}"
            print(f"{name:28s} {mp:5.1f} {peak:9.2f} {ratio:10.2f} {seconds:8.1f}  {result}", flush=True)
            if peak > args.budget_gb or code not in (0, 2):
                over.append((name, mp, peak, code))
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
    if over:
        print(f"over the {args.budget_gb} GiB budget or failed: {over}")
        return 1
    print(f"every peak under {args.budget_gb} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
