"""Benchmark of the GVD video deblurring solver (blurbench.ops.gvd): seconds per 1280×720 frame, peak memory per stage.

    python bench/bench_gvd.py --threads 1             # 5-frame window, 1280×720, the `gvd` method's settings
    python bench/bench_gvd.py --threads 1 --levels 1  # the finest pyramid level only (+ the full-schedule estimate)
    python bench/bench_gvd.py --paper                 # the paper's schedule (17 levels, 5 warps × 21): hours on a CPU
    python bench/bench_gvd.py --quick                 # 320×180, 3 pyramid levels: a sanity run of about a minute
    python bench/bench_gvd.py --device cuda           # the same solve on a GPU (+ its peak allocated memory)

Input: a blurry clip rendered like the built-in video suite (camera motion + a moving layer, 7 HFR sub-frames per
frame, τ = 7/8) at the requested size, speeds scaled with the size. One solve (``deblur_video``, one 5-frame window)
runs in a fresh subprocess, so its memory is its own. It reports per solver stage (``aux["stage_seconds"]``; the
final RGB pass's stages are prefixed ``color_``) the seconds, seconds per frame and the peak resident set of the
whole process during that stage (``profile_memory=True``: VmHWM after a reset through /proc/self/clear_refs; Linux).
Before the solve the clip's other synthesis outputs are dropped and the C heap trimmed (``malloc_trim``), so the
process holds the libraries, the blurry input and the ground truth for the PSNR gain.

With fewer pyramid levels than the schedule (``--levels``) the full schedule's time is *estimated*, not measured:
the per-level stages (latent, flow, sigma, filter) measured on the levels run are scaled by the pixel count of all
levels (level k has 0.9^2k of the pixels; an upper bound, since coarse levels also need fewer kernel taps), the
initial flow and the RGB pass are counted once. Peak memory is that of the finest level, which every schedule runs.

Ratios against references measured in the same run:

* ``x DIS`` — each stage's time over the time of the classical initial flow (OpenCV DIS, the solver's
  first stage; OpenCV is the baseline any user already has);
* ``assembled K vs tap-by-tap`` — the motion-blur operator as used by the latent solver (row-chunked sparse CSR
  matrices, :class:`~blurbench.ops.gvd.kernels.MotionBlur`: set-up + 20 products + 20 adjoint products) against the
  rendering tap by tap with ``grid_sample`` and its scatter adjoint (:func:`~blurbench.ops.gvd.kernels.
  render_motion_blur` / ``render_motion_blur_adjoint``, 20 + 20 products), same flows.
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

from blurbench.ops.reblur_autotune import processor

LEVEL_STAGES = ("latent_setup", "latent", "filter", "flow", "sigma")


def make_clip(h: int, w: int, seed: int = 0) -> dict:
    import skimage.data

    from blurbench.ops.video_synthesis import make_blurry_clip

    s = min(h, w) / 96.0  # the built-in clips are 96 px high: same motion relative to the frame
    return make_blurry_clip(skimage.data.astronaut(), np.random.default_rng(seed), n_frames=5, k=7, size=(h, w),
                            camera_speed=(2.0 * s, 6.0 * s), object_speed=(3.0 * s, 9.0 * s))


def config(args, full: bool = False):
    """The solver's config (``full``: without the ``--levels`` override, i.e. the schedule being estimated)."""
    from dataclasses import replace

    from blurbench.ops.gvd.solver import GVDConfig
    from blurbench.tasks.methods import _GVD_BUILTIN

    cfg = GVDConfig() if args.paper else replace(GVDConfig(), **_GVD_BUILTIN)
    if args.levels is not None and not full:
        cfg = replace(cfg, max_levels=args.levels)
    return cfg


def level_shapes(args, full: bool = False) -> list[tuple[int, int]]:
    from blurbench.ops.gvd.pyramid import adaptive_levels, pyramid_shapes

    cfg = config(args, full)
    shapes = pyramid_shapes(args.height, args.width, cfg.pyramid_scale, cfg.min_size, cfg.max_levels)
    if cfg.coarse_size is not None:  # the size part of the adaptive rule (its blur guard needs the clip's flows)
        shapes = shapes[:adaptive_levels(args.height, args.width, cfg.pyramid_scale, cfg.coarse_size)]
    return shapes


def _release_heap() -> None:
    """Collect garbage and hand the C heap's free pages back to the OS (glibc ``malloc_trim``; no-op elsewhere), so
    that the resident set before the solve is the inputs and the libraries, not the synthesis' freed temporaries."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def worker(args) -> dict:
    """Runs in a subprocess: one solve of a 5-frame window; times and peak RSS (MiB) per stage."""
    from blurbench.ops.gvd.kernels import auto_half_taps
    from blurbench.ops.gvd.solver import deblur_video
    from blurbench.procmem import status_mib

    clip = make_clip(args.height, args.width)
    dev = torch.device(args.device)
    frames, tau = clip["blurry"].contiguous().to(dev), clip["tau"]
    cfg = config(args)
    taps = 2 * auto_half_taps(clip["flow_fw"], clip["flow_bw"], tau, cfg.tap_spacing, cfg.max_half_taps) + 1
    sharp = clip["sharp"]
    del clip  # the synthesis' ground truth flows and masks are not the solver's memory: free them and their heap
    _release_heap()
    baseline = status_mib("VmRSS")
    t0 = time.perf_counter()
    with torch.inference_mode():
        out, aux = deblur_video(frames, cfg, tau=tau, window=5, return_aux=True, profile_memory=True)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    total = time.perf_counter() - t0
    device_peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
    peaks = aux.get("stage_peak_mib", {})
    if not peaks:  # no /proc/self/clear_refs: only the whole-process peak is known
        import resource

        peaks = {"(whole solve)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    from blurbench.metrics.image import psnr

    out, frames = out.cpu(), frames.cpu()
    gain = float(psnr(out.clamp(0, 1), sharp).mean() - psnr(frames, sharp).mean())
    return {"device_peak_mib": device_peak, "total": total, "stages": aux["stage_seconds"], "peaks": peaks,
            "baseline_mib": baseline, "frames": frames.shape[0], "levels": aux.get("levels", len(level_shapes(args))),
            "gain_db": gain, "taps_finest": taps}


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def operator_reference(h: int, w: int, products: int = 20, device: str = "cpu") -> dict:
    """Seconds for ``products`` products K x and Kᵀ y: assembled CSR (incl. set-up) vs tap by tap, same flows."""
    from blurbench.ops.gvd.kernels import MotionBlur, auto_half_taps, render_motion_blur, render_motion_blur_adjoint
    from blurbench.ops.gvd.solver import luminance

    clip = make_clip(h, w)
    dev = torch.device(device)
    fw, bw = clip["flow_fw"].to(dev), clip["flow_bw"].to(dev)
    tau = torch.full((fw.shape[0],), clip["tau"], device=dev)
    n = auto_half_taps(fw, bw, tau, 1.0, 16)
    x = luminance(clip["sharp"]).to(dev)
    with torch.inference_mode():
        t0 = time.perf_counter()
        for _ in range(products):
            ref = render_motion_blur(x, fw, bw, tau, n)
            ref_t = render_motion_blur_adjoint(x, fw, bw, tau, n)
        _sync(dev)
        naive = time.perf_counter() - t0
        t0 = time.perf_counter()
        op = MotionBlur(fw, bw, tau, n)
        _sync(dev)
        setup = time.perf_counter() - t0
        for _ in range(products):
            out = op.A(x)
            out_t = op.A_adjoint(x)
        _sync(dev)
        assembled = time.perf_counter() - t0
    err = max(float((out - ref).abs().max()), float((out_t - ref_t).abs().max()))
    return {"naive": naive, "assembled": assembled, "setup": setup, "taps": 2 * n + 1, "max_abs_diff": err,
            "matrix_mib": op.nbytes() / 2**20,
            "nnz_per_row": sum(m.values().numel() for m in op._fwd) / (fw.shape[0] * h * w)}


def _load() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="320x180, 3 pyramid levels")
    ap.add_argument("--paper", action="store_true", help="the paper's schedule instead of the `gvd` method's")
    ap.add_argument("--height", type=int, default=None)
    ap.add_argument("--width", type=int, default=None)
    ap.add_argument("--levels", type=int, default=None, help="run only this many pyramid levels (finest first)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-reference", action="store_true", help="skip the operator reference measurement")
    ap.add_argument("--device", default="cpu", help="torch device of the solve (cpu, cuda, cuda:1, ...)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.height, args.width = args.height or 180, args.width or 320
        args.levels = args.levels or 3
    args.height, args.width = args.height or 720, args.width or 1280
    try:
        dev = torch.device(args.device)
    except RuntimeError:
        ap.error(f"--device: not a torch device: {args.device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        ap.exit(2, f"{ap.prog}: error: --device {args.device}: CUDA is not available here\n")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(worker(args)))
        return

    cfg, full_cfg = config(args), config(args, full=True)
    run_shapes, full_shapes = level_shapes(args), level_shapes(args, full=True)
    partial = len(run_shapes) < len(full_shapes)
    schedule = "paper" if args.paper else "`gvd` method (defaults of the built-in leaderboard)"
    print("GVD bench — measures: one 5-frame window deblurred by blurbench.ops.gvd.deblur_video (DIS initial flows, "
          "coarse-to-fine latent/flow/σ, then the RGB pass), in a fresh subprocess: seconds and seconds per frame per "
          "solver stage, peak resident memory (whole process) per stage.")
    print(f"conditions: {args.width}x{args.height}, schedule {schedule}: latent {cfg.latent_pd_iters}x"
          f"{cfg.latent_cg_iters}, flow {cfg.flow_warps}x{cfg.flow_pd_iters}, sigma {cfg.sigma_warps}x"
          f"{cfg.sigma_pd_iters}, ≤ {2 * cfg.max_half_taps + 1} taps; pyramid levels run {len(run_shapes)} of "
          f"{len(full_shapes)} (scale {cfg.pyramid_scale}; run {run_shapes[-1][1]}x{run_shapes[-1][0]} .. "
          f"{run_shapes[0][1]}x{run_shapes[0][0]}); torch threads {torch.get_num_threads()} "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}); load average 1/5/15 min before "
          f"{_load()} on {os.cpu_count()} cores ({processor()}); device {args.device}; torch {torch.__version__}")
    if partial:
        print(f"NOTE: only {len(run_shapes)} of the schedule's {len(full_shapes)} levels are run; the full "
              "schedule's time below is an ESTIMATE (see the module docstring), not a measurement.")
    sys.stdout.flush()
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--height", str(args.height), "--width",
           str(args.width), "--device", args.device]
    for flag, val in (("--levels", args.levels), ("--threads", args.threads)):
        if val is not None:
            cmd += [flag, str(val)]
    if args.paper:
        cmd.append("--paper")
    wall = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - wall
    if res.returncode != 0:
        sys.exit(f"worker failed:\n{res.stderr[-3000:]}")
    r = json.loads(res.stdout.strip().splitlines()[-1])
    n = r["frames"]
    dis = r["stages"].get("initial_flow", float("nan"))
    peaks = r["peaks"]
    print(f"\nmeasured ({len(run_shapes)} level(s), {r['taps_finest']} taps at the finest level):\n")
    print("| stage | seconds | s/frame | x DIS | peak RSS (MiB) |\n|---|---|---|---|---|")
    for stage, sec in sorted(r["stages"].items(), key=lambda kv: -kv[1]):
        peak = peaks.get(stage)
        print(f"| {stage} | {sec:.2f} | {sec / n:.2f} | {sec / dis:.1f} | {'' if peak is None else f'{peak:.0f}'} |")
    top = max(peaks.values()) if peaks else float("nan")
    print(f"| **total** | {r['total']:.2f} | **{r['total'] / n:.2f}** | {r['total'] / dis:.1f} | **{top:.0f}** |")
    print(f"\npeak resident set {top:.0f} MiB ({top / 1024:.2f} GiB) for the 5-frame window, of which "
          f"{top - r['baseline_mib']:.0f} MiB above the process before the solve (Python, torch, inputs: "
          f"{r['baseline_mib']:.0f} MiB); PSNR gain on this clip {r['gain_db']:+.2f} dB; "
          f"worker wall time {wall:.0f} s")
    if r.get("device_peak_mib") is not None:
        print(f"device peak allocated memory ({args.device}): {r['device_peak_mib']:.0f} MiB")
    if partial:
        frac = lambda shapes: sum(h * w for h, w in shapes) / (args.height * args.width)  # noqa: E731
        scale = frac(full_shapes) / frac(run_shapes)
        per_level = sum(r["stages"].get(k, 0.0) for k in LEVEL_STAGES)
        once = r["total"] - per_level
        est = once + per_level * scale
        print(f"\nESTIMATE for the full schedule ({len(full_shapes)} levels, scale {full_cfg.pyramid_scale}): "
              f"per-level stages {per_level:.1f} s x {scale:.2f} (pixels of all levels / pixels of the levels run) "
              f"+ initial flow and RGB pass {once:.1f} s = {est:.0f} s per window = **{est / n:.1f} s per frame** "
              f"(estimate, not measured); peak memory: the finest level's, as measured above.")
    if not args.no_reference:
        ref = operator_reference(args.height, args.width, device=args.device)
        print(f"\nmotion-blur operator, {ref['taps']} taps, 20 K + 20 Kᵀ products of a 5-frame window: tap-by-tap "
              f"{ref['naive']:.2f} s, assembled {ref['assembled']:.2f} s (set-up {ref['setup']:.2f} s; "
              f"{ref['matrix_mib']:.0f} MiB of matrices, {ref['nnz_per_row']:.0f} entries per row); assembled K vs "
              f"tap-by-tap = {ref['naive'] / ref['assembled']:.2f}x faster (max |diff| {ref['max_abs_diff']:.1e})")
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
