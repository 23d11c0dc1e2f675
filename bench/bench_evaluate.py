"""Wall time of the default built-in evaluation (`blurbench evaluate`, no arguments), and where it goes per method.

    python bench/bench_evaluate.py                 # the default method set on the default datasets
    python bench/bench_evaluate.py --methods identity,rl-oracle --datasets motion

The built-in data is generated first (not timed: a first run builds it once). The evaluation runs in a fresh
process into a temporary directory, as a user's would. Per-method time is the sum of the per-sample ``seconds``
the pipeline records (the method's own work: restoration or estimation plus its metrics); the reference measured
in the same run is ``identity``, whose samples cost only loading and scoring. The budget is issue 19's: the
default evaluation stays under 4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from blurbench.ops.reblur_autotune import processor

BUDGET_S = 240.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", help="comma-separated methods (default: the suite's default set)")
    ap.add_argument("--datasets", help="comma-separated datasets (default: the suite's default set)")
    args = ap.parse_args()
    cli = [sys.executable, "-m", "blurbench"]
    subprocess.run([*cli, "data", "prepare", "builtin"], check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
        argv = [*cli, "evaluate", "--out", tmp]
        if args.methods:
            argv += ["--methods", args.methods]
        if args.datasets:
            argv += ["--datasets", args.datasets]
        t0 = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"evaluate failed: {done.stderr.strip().splitlines()[-1:]}")
        rows = [json.loads(line) for line in (Path(tmp) / "results.jsonl").read_text().splitlines() if line]
    seconds: dict[str, float] = defaultdict(float)
    samples: dict[str, int] = defaultdict(int)
    for row in rows:
        seconds[row["method"]] += float(row.get("seconds") or 0.0)
        samples[row["method"]] += 1
    ref = seconds.get("identity", 0.0) / max(1, samples.get("identity", 0))
    print(f"processor: {processor()}; threads {os.cpu_count()}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"evaluate wall {wall:.1f} s ({wall / BUDGET_S:.2f} of the {BUDGET_S:.0f} s budget), {len(rows)} rows; "
          f"the rest of the wall is start-up, model loading and writing the tables")
    print(f"{'method':34s} {'samples':>7s} {'total s':>8s} {'share':>6s} {'s/sample':>9s} {'/ identity':>10s}")
    total = sum(seconds.values()) or 1.0
    for method in sorted(seconds, key=lambda m: -seconds[m]):
        per = seconds[method] / samples[method]
        ratio = f"{per / ref:10.1f}" if ref > 0 else f"{'-':>10s}"
        print(f"{method:34s} {samples[method]:7d} {seconds[method]:8.1f} {seconds[method] / total:6.1%} "
              f"{per:9.3f} {ratio}")


if __name__ == "__main__":
    main()
