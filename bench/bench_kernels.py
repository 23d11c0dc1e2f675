"""Throughput of the kernel generators, the kernel bank and on-the-fly blur fields (not a test).

    python bench/bench_kernels.py                 # 4096 kernels per measurement, 1 and all workers
    python bench/bench_kernels.py --n 100000 --kinds camera_shake   # the paper's full 100k bank

Prints kernels/s and the time a 100,000-kernel bank would take (extrapolated linearly from ``--n``; bank
generation is embarrassingly parallel across chunks of 1024 kernels, so it scales with ``--workers``
on an otherwise idle machine).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from blurbench.ops.kernels import KernelBank, random_kernels
from blurbench.ops.regions import sample_blur_field

PAPER_BANK = 100_000


def _timed(fn, repeat: int = 1) -> float:
    fn()  # warm-up: imports, allocator, FFT plans
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096, help="kernels per bank measurement")
    ap.add_argument("--size", type=int, default=33)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--kinds", nargs="+", default=["camera_shake", "linear", "object"])
    args = ap.parse_args()
    print(f"cpu_count={os.cpu_count()}  size={args.size}  n={args.n}")

    print("\non the fly (one kernel per call, as sample_blur_field draws them):")
    for kind in ("camera_shake", "linear", "object"):
        rng = np.random.default_rng(0)
        dt = _timed(lambda kind=kind, rng=rng: random_kernels(1, args.size, rng=rng, kinds=(kind,)), 50)
        print(f"  {kind:13s} {1 / dt:9.0f} kernels/s  ({dt * 1e3:.2f} ms each)")

    print("\nKernelBank.generate (vectorised, per-kernel seeds):")
    for kind in args.kinds:
        for workers in sorted({1, args.workers}):
            start = time.perf_counter()
            KernelBank.generate(args.n, args.size, seed=0, kinds=(kind,), workers=workers)
            dt = time.perf_counter() - start
            rate = args.n / dt
            print(f"  {kind:13s} workers={workers}  {rate:9.0f} kernels/s   "
                  f"100k bank ≈ {PAPER_BANK / rate:7.1f} s")

    print("\nsample_blur_field (4 kernels, camera shake, random regions):")
    for side in (256, 512):
        rng = np.random.default_rng(0)
        dt = _timed(lambda side=side, rng=rng: sample_blur_field(
            side, side, rng=rng, kernel_size=args.size, num_kernels=4, min_segments=3), 10)
        print(f"  {side}x{side}: {dt * 1e3:6.1f} ms per field")


if __name__ == "__main__":
    main()
