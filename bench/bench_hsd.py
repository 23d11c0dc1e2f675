"""Time of HSD deblurring (30 iterations, TV denoiser) on a 1280x720 image, and the share spent re-blurring.

    python bench/bench_hsd.py            # 1280x720, B = 25 kernels of 33x33 (the estimated-field size)
    python bench/bench_hsd.py --quick    # 320x180

Prints the wall and CPU time of the solver, the share of it spent in ``reblur``/``reblur_adjoint`` (FFT engine),
and the same solver with the direct ``reblur_reference`` (per-channel ``F.conv2d``; its adjoint by autograd),
measured in the same run. At full size the reference is run for ``--ref-iterations`` iterations (one iteration
costs tens of seconds on a laptop CPU) and its per-iteration time is compared; ``--quick`` runs both in full.
The denoiser runs the same in both, so the ratio of the solver totals understates the re-blur speed-up.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

import blurbench.ops.hsd as hsd
from blurbench.ops.denoisers import TVDenoiser
from blurbench.ops.reblur import BlurField, reblur, reblur_adjoint, reblur_reference


class _Timed:
    """Wraps a function and accumulates its wall time."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        out = self.fn(*args, **kwargs)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def _reference_adjoint(blurry, kernels, mixing, padding="reflect"):
    """Adjoint of ``reblur_reference`` by autograd (the conv2d transpose the direct method implies)."""
    k = kernels.shape[-1]
    ho, wo = blurry.shape[-2:]
    size = (ho + k - 1, wo + k - 1) if padding == "valid" else (ho, wo)
    with torch.enable_grad():
        x = blurry.new_zeros(*blurry.shape[:2], *size).requires_grad_(True)
        (g,) = torch.autograd.grad(reblur_reference(x, kernels, mixing, padding), x, blurry)
    return g


class _TimedField(BlurField):
    """The 'valid' blur field HSD solves with, its ``A`` / ``A_adjoint`` computed by the given functions, timed."""

    def __init__(self, kernels, mixing, forward, adjoint):
        super().__init__(kernels, mixing, "valid")
        self.fwd, self.adj = _Timed(forward), _Timed(adjoint)

    def A(self, x):
        return self.fwd(x, self.kernels, self.mixing, self.padding)

    def A_adjoint(self, y):
        return self.adj(y, self.kernels, self.mixing, self.padding)


def _run(blurry, kernels, mixing, iterations, forward, adjoint):
    field = _TimedField(kernels, mixing, forward, adjoint)
    cpu, start = time.process_time(), time.perf_counter()
    with torch.no_grad():
        hsd.hsd_deblur(blurry, field, TVDenoiser(scale=1.0, iterations=10), iterations=iterations,
                       stages=max(1, iterations // 2))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall, cpu, field.fwd.seconds + field.adj.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="320x180 and the full reference run")
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--basis", type=int, default=25, help="number of kernels B")
    ap.add_argument("--ref-iterations", type=int, default=2, help="reference iterations at full size")
    args = ap.parse_args()
    w, h = (320, 180) if args.quick else (1280, 720)
    ref_iters = args.iterations if args.quick else min(args.ref_iterations, args.iterations)
    g = torch.Generator().manual_seed(0)
    blurry = torch.rand(1, 3, h, w, generator=g)
    kernels = torch.softmax(torch.randn(1, args.basis, 33 * 33, generator=g), -1).view(1, args.basis, 33, 33)
    mixing = torch.softmax(torch.nn.functional.interpolate(torch.randn(1, args.basis, h // 16, w // 16, generator=g),
                                                           size=(h, w), mode="bilinear"), 1)
    print(f"HSD {args.iterations} iterations (TV denoiser, {max(1, args.iterations // 2)} stages), {w}x{h}, "
          f"B={args.basis}, K=33, torch threads {torch.get_num_threads()}, cpu_count {os.cpu_count()}")
    _run(blurry[..., :64, :64], kernels, mixing[..., :64, :64], 1, reblur, reblur_adjoint)  # warm-up
    wall, cpu, in_reblur = _run(blurry, kernels, mixing, args.iterations, reblur, reblur_adjoint)
    print(f"  FFT reblur:       {wall:8.2f} s wall ({cpu:.2f} s CPU), {wall / args.iterations:.3f} s/iteration; "
          f"reblur+adjoint {in_reblur:.2f} s = {100 * in_reblur / wall:.0f}% of the time")
    rwall, rcpu, r_in = _run(blurry, kernels, mixing, ref_iters, reblur_reference, _reference_adjoint)
    print(f"  reblur_reference: {rwall:8.2f} s wall ({rcpu:.2f} s CPU) for {ref_iters} iterations, "
          f"{rwall / ref_iters:.3f} s/iteration; reblur+adjoint {100 * r_in / rwall:.0f}% of the time")
    per_fft, per_ref = in_reblur / args.iterations, r_in / ref_iters
    print(f"  ratio reference/FFT: solver {(rwall / ref_iters) / (wall / args.iterations):.1f}x per iteration, "
          f"reblur+adjoint alone {per_ref / per_fft:.1f}x")


if __name__ == "__main__":
    main()
