"""Start-up time of the listing commands, each in a fresh interpreter, beside `import torch` timed in the same run.

    nice -n 19 python bench/bench_startup.py            # 5 runs each, interleaved
    python bench/bench_startup.py --runs 9

``--help``, ``zoo list``, ``data list`` and ``methods`` read names and metadata only (lazy registries, see
blurbench/lazy.py): they should cost a fraction of ``import torch``, the price a CLI that imports its modules to
list them would pay at least. Times are wall-clock, minimum and median over interleaved runs (load on the machine
shifts the median; the ratio to the reference, measured alongside, is the figure to compare across machines).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from blurbench.ops.reblur_autotune import processor

REFERENCE = ("import torch (reference)", [sys.executable, "-c", "import torch"])
COMMANDS = [
    ("python (empty)", [sys.executable, "-c", "pass"]),
    ("blurbench --help", [sys.executable, "-m", "blurbench", "--help"]),
    ("blurbench zoo list", [sys.executable, "-m", "blurbench", "zoo", "list"]),
    ("blurbench data list", [sys.executable, "-m", "blurbench", "data", "list"]),
    ("blurbench methods", [sys.executable, "-m", "blurbench", "methods"]),
    ("blurbench methods --json", [sys.executable, "-m", "blurbench", "methods", "--json"]),
]


def run_once(argv: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=os.environ)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per command (interleaved)")
    args = ap.parse_args()
    rows = [REFERENCE, *COMMANDS]
    times: dict[str, list[float]] = {label: [] for label, _ in rows}
    for _, argv in rows:  # warm the file cache: the first import of torch reads ~1 GB of libraries
        run_once(argv)
    for _ in range(args.runs):
        for label, argv in rows:
            times[label].append(run_once(argv))
    ref = statistics.median(times[REFERENCE[0]])
    print(f"processor: {processor()}; python {sys.version.split()[0]}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.runs} runs each")
    print(f"{'command':28s} {'min s':>7s} {'median s':>9s} {'/ import torch':>15s}")
    for label, _ in rows:
        med = statistics.median(times[label])
        print(f"{label:28s} {min(times[label]):7.2f} {med:9.2f} {med / ref:15.2f}")


if __name__ == "__main__":
    main()
