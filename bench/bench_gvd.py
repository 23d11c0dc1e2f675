"""Benchmark of the GVD video deblurring solver (blurbench.ops.gvd): seconds per 1280×720 frame, peak memory.

    python bench/bench_gvd.py                # 5-frame window, 1280×720, the `gvd` method's settings
    python bench/bench_gvd.py --paper        # the paper's schedule (17 levels, 5 warps × 21): hours on a CPU
    python bench/bench_gvd.py --quick        # 320×180, 3 pyramid levels: a sanity run of a few seconds

Input: a blurry clip rendered like the built-in video suite (camera motion + a moving layer, 7 HFR sub-frames per
frame, τ = 7/8) at the requested size, speeds scaled with the size. One solve runs in a fresh subprocess (so its
peak memory is its own); it reports the time per solver stage (``aux["stage_seconds"]``), the time per frame and
the growth of the peak resident set over the solve (VmHWM after a reset through /proc/self/clear_refs, inputs
excluded). Threads: torch's default unless ``--threads``.

Ratios against references measured in the same run:

* ``x DIS`` — each stage's time over the time of the classical initial flow (OpenCV DIS, the solver's
  first stage; OpenCV is the baseline any user already has);
* ``assembled K vs tap-by-tap`` — the motion-blur operator as used by the latent solver (sparse CSR matrices,
  :class:`~blurbench.ops.gvd.kernels.MotionBlur`: set-up + 20 products) against the naive rendering tap by tap
  with ``grid_sample`` (:func:`~blurbench.ops.gvd.kernels.render_motion_blur`, 20 products), same flows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch


def make_clip(h: int, w: int, seed: int = 0) -> dict:
    import skimage.data

    from blurbench.ops.video_synthesis import make_blurry_clip

    s = min(h, w) / 96.0  # the built-in clips are 96 px high: same motion relative to the frame
    return make_blurry_clip(skimage.data.astronaut(), np.random.default_rng(seed), n_frames=5, k=7, size=(h, w),
                            camera_speed=(2.0 * s, 6.0 * s), object_speed=(3.0 * s, 9.0 * s))


def config(args):
    from dataclasses import replace

    from blurbench.ops.gvd.solver import GVDConfig
    from blurbench.tasks.methods import _GVD_BUILTIN

    cfg = GVDConfig() if args.paper else replace(GVDConfig(), **_GVD_BUILTIN)
    if args.levels is not None:
        cfg = replace(cfg, max_levels=args.levels)
    return cfg


def _status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def worker(args) -> dict:
    """Runs in a subprocess: one solve of a 5-frame window; times per stage and peak RSS growth (MiB)."""
    from blurbench.ops.gvd.pyramid import pyramid_shapes
    from blurbench.ops.gvd.solver import deblur_video

    clip = make_clip(args.height, args.width)
    frames, tau = clip["blurry"].contiguous(), clip["tau"]
    cfg = config(args)
    try:  # reset the high-water mark (Linux >= 4.0) so that the inputs' generation does not hide our peak
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status_mib("VmRSS")
    except OSError:
        before = None
    t0 = time.perf_counter()
    with torch.inference_mode():
        out, aux = deblur_video(frames, cfg, tau=tau, window=5, return_aux=True)
    total = time.perf_counter() - t0
    peak = _status_mib("VmHWM")
    if before is None or peak is None:
        import resource

        peak, before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0.0
    from blurbench.metrics.image import psnr

    gain = float(psnr(out.clamp(0, 1), clip["sharp"]).mean() - psnr(frames, clip["sharp"]).mean())
    return {"total": total, "stages": aux["stage_seconds"], "peak_mib": peak - before, "frames": frames.shape[0],
            "levels": len(pyramid_shapes(args.height, args.width, cfg.pyramid_scale, cfg.min_size, cfg.max_levels)),
            "gain_db": gain}


def operator_reference(h: int, w: int, products: int = 20) -> dict:
    """Seconds for ``products`` products K x: assembled CSR (incl. set-up) vs tap by tap, same flows."""
    from blurbench.ops.gvd.kernels import MotionBlur, auto_half_taps, render_motion_blur
    from blurbench.ops.gvd.solver import luminance

    clip = make_clip(h, w)
    fw, bw = clip["flow_fw"], clip["flow_bw"]
    tau = torch.full((fw.shape[0],), clip["tau"])
    n = auto_half_taps(fw, bw, tau, 1.0, 16)
    x = luminance(clip["sharp"])
    t0 = time.perf_counter()
    ref = None
    for _ in range(products):
        ref = render_motion_blur(x, fw, bw, tau, n)
    naive = time.perf_counter() - t0
    t0 = time.perf_counter()
    op = MotionBlur(fw, bw, tau, n, adjoint=False)
    setup = time.perf_counter() - t0
    for _ in range(products):
        out = op.apply(x)
    assembled = time.perf_counter() - t0
    err = float((out - ref).abs().max())
    return {"naive": naive, "assembled": assembled, "setup": setup, "taps": 2 * n + 1, "max_abs_diff": err}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="320x180, 3 pyramid levels")
    ap.add_argument("--paper", action="store_true", help="the paper's schedule instead of the `gvd` method's")
    ap.add_argument("--height", type=int, default=None)
    ap.add_argument("--width", type=int, default=None)
    ap.add_argument("--levels", type=int, default=None, help="override the number of pyramid levels")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.height, args.width = args.height or 180, args.width or 320
        args.levels = args.levels or 3
    args.height, args.width = args.height or 720, args.width or 1280
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(worker(args)))
        return

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cfg = config(args)
    print(f"GVD bench: 5-frame window {args.width}x{args.height}, {'paper' if args.paper else 'gvd method'} schedule "
          f"(max_levels {cfg.max_levels}, latent {cfg.latent_pd_iters}x{cfg.latent_cg_iters}, flow "
          f"{cfg.flow_warps}x{cfg.flow_pd_iters}, sigma {cfg.sigma_warps}x{cfg.sigma_pd_iters}), "
          f"{torch.get_num_threads()} threads, load {load:.2f}")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--height", str(args.height), "--width",
           str(args.width)]
    for flag, val in (("--levels", args.levels), ("--threads", args.threads)):
        if val is not None:
            cmd += [flag, str(val)]
    if args.paper:
        cmd.append("--paper")
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        sys.exit(f"worker failed:\n{res.stderr[-3000:]}")
    r = json.loads(res.stdout.strip().splitlines()[-1])
    n = r["frames"]
    dis = r["stages"].get("initial_flow", float("nan"))
    print("\n| stage | seconds | s/frame | x DIS |\n|---|---|---|---|")
    for stage, sec in sorted(r["stages"].items(), key=lambda kv: -kv[1]):
        print(f"| {stage} | {sec:.2f} | {sec / n:.2f} | {sec / dis:.1f} |")
    print(f"| **total** | {r['total']:.2f} | **{r['total'] / n:.2f}** | {r['total'] / dis:.1f} |")
    print(f"\npyramid levels {r['levels']}; peak RSS growth {r['peak_mib']:.0f} MiB "
          f"({r['peak_mib'] / 1024:.2f} GiB) for the 5-frame window; PSNR gain on this clip {r['gain_db']:+.2f} dB")
    ref = operator_reference(args.height, args.width)
    print(f"\nmotion-blur operator, {ref['taps']} taps, 20 products of a 5-frame window: tap-by-tap "
          f"{ref['naive']:.2f} s, assembled {ref['assembled']:.2f} s (set-up {ref['setup']:.2f} s); "
          f"assembled K vs tap-by-tap = {ref['naive'] / ref['assembled']:.2f}x faster "
          f"(max |diff| {ref['max_abs_diff']:.1e})")
    load2 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average after: {load2:.2f}")


if __name__ == "__main__":
    main()
