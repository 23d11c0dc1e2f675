"""Speed of OpenCV's DFT (blurbench.ops.dft.dft2, opencv=True) against torch.fft (MKL) on the transform sizes
reblur uses: which one wins depends on the processor (the reblur chooser times both on every machine).

    python bench/bench_dft.py            # one thread, as in reblur's helper threads
    python bench/bench_dft.py --threads 2

Complex 2-D transforms of 3 channels (one kernel pair's product item), forward and inverse, in the same run;
times are the minimum over interleaved repetitions. OpenCV transforms in place (as the reblur engine does);
torch allocates its output (its out= adds a copy, so the engine does not use it).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from blurbench.ops.dft import dft2
from blurbench.ops.reblur_autotune import processor

SIZES = [(160, 160), (280, 288), (288, 288), (320, 320), (300, 300)]


def best_ms(fn, reps: int) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (OpenCV's DFT is single-threaded)")
    ap.add_argument("--reps", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"processor: {processor()}; torch {torch.__version__}, {args.threads} thread(s), 3 channels per call, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'size':>9} {'dtype':>10} {'direction':>9} {'torch ms':>9} {'opencv ms':>9} {'ratio':>6} {'rel err':>8}")
    g = torch.Generator().manual_seed(0)
    for h, w in SIZES:
        for dtype in (torch.complex64, torch.complex128):
            x = torch.randn(3, h, w, dtype=dtype, generator=g)
            for inverse in (False, True):
                buf = x.clone()

                def ref_fn(x=x, inverse=inverse):
                    return torch.fft.ifft2(x, norm="forward") if inverse else torch.fft.fft2(x)

                def ours_fn(buf=buf, inverse=inverse):
                    return dft2(buf, inverse, out=buf, opencv=True)

                ref = ref_fn()
                err = ((dft2(x, inverse, opencv=True) - ref).abs().max() / ref.abs().max()).item()
                t_ref = t_ours = float("inf")
                for _ in range(5):  # interleaved rounds: both see the same machine state
                    t_ref = min(t_ref, best_ms(ref_fn, args.reps // 5))
                    t_ours = min(t_ours, best_ms(ours_fn, args.reps // 5))
                name = str(dtype).removeprefix("torch.")
                print(f"{f'{h}x{w}':>9} {name:>10} {'inverse' if inverse else 'forward':>9} {t_ref:9.3f} "
                      f"{t_ours:9.3f} {t_ref / t_ours:6.2f} {err:8.1e}")
    print(f"ratio = torch / opencv (> 1: OpenCV faster); load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
