"""Benchmark of blurbench.ops.reblur against the direct (official) reblur and deepinv's space-varying blur.

    python bench/bench_reblur.py            # full: 1280×720 reflect, 288² valid (training crop), 256² reflect
    python bench/bench_reblur.py --quick    # fewer repetitions, no fwd+bwd memory at 720p

K = 33, B = 25, C = 3, N = 1 (the paper's setting), float32, CPU, torch's default thread count.
``reblur`` chooses its path per problem on first use (blurbench.ops.reblur_autotune): the bench forgets this
machine's earlier choices (unless ``--keep-choices``), lets the first call of each case choose (its time is
printed as "choose s"), then prints the path chosen for the forward and for forward+backward, and the times
the chooser measured for each candidate. ``BLURBENCH_REBLUR_PATH`` forces a path as usual.
Times are the minimum over interleaved repetitions (the machine may be shared; the minimum is the least
disturbed run and every method gets the same chances); the load average is printed before and after.
Peak memory is the growth of the peak resident set (VmHWM after a reset through /proc/self/clear_refs,
else ``resource.getrusage``) over one call in a fresh subprocess (on the path chosen here), the inputs excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

from blurbench.ops import reblur_autotune as autotune
from blurbench.ops.reblur import problem_key, reblur, reblur_reference
from blurbench.procmem import reset_peak_rss, status_mib

K, B, C = 33, 25, 3
CASES = [  # (sharp H, sharp W, padding)
    (720, 1280, "reflect"),
    (288, 288, "valid"),
    (256, 256, "reflect"),
]


def make_inputs(h: int, w: int, padding: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ho, wo = (h - K + 1, w - K + 1) if padding == "valid" else (h, w)
    sharp = torch.rand(1, C, h, w, generator=g)
    kernels = torch.randn(1, B, K * K, generator=g).softmax(-1).reshape(1, B, K, K)
    mixing = (3 * torch.randn(1, B, ho, wo, generator=g)).softmax(1)
    return sharp, kernels, mixing


def deepinv_fn():
    """deepinv's product-convolution with the multipliers after the convolutions (our model), or None."""
    try:
        from deepinv.physics.functional import product_convolution2d
    except ImportError:
        return None

    def run(sharp, kernels, mixing, padding, use_fft=True):
        # deepinv convolves (flips the filter); flip ours to get the same correlation
        h = kernels.flip(-2, -1).unsqueeze(1)  # (N, 1, B, K, K)
        return product_convolution2d(sharp, mixing.unsqueeze(1), h, padding=padding, use_fft=use_fft,
                                     mask_first=False)

    return run


def methods():
    out = {"ref": reblur_reference, "ours": reblur}
    dinv = deepinv_fn()
    if dinv is not None:
        out["deepinv"] = dinv
    return out


def fwd_bwd(fn, sharp, kernels, mixing, padding, gout):
    args = [t.detach().requires_grad_(True) for t in (sharp, kernels, mixing)]
    fn(*args, padding).backward(gout)


def choose(sharp, kernels, mixing, padding, gout):
    """First calls of the forward and of forward+backward: the paths chosen, the seconds the choices took."""
    t0 = time.perf_counter()
    with torch.no_grad():
        reblur(sharp, kernels, mixing, padding)
    t1 = time.perf_counter()
    fwd_bwd(reblur, sharp, kernels, mixing, padding, gout)
    t2 = time.perf_counter()
    keys = {"f": problem_key("reblur", sharp, kernels, mixing, padding)}
    with torch.enable_grad():
        keys["fb"] = problem_key("reblur", *(t.detach().requires_grad_(True) for t in (sharp, kernels, mixing)),
                                 padding)
    return {mode: (autotune.chosen(key) or autotune.last_path(), autotune.timings(key), dt)
            for (mode, key), dt in zip(keys.items(), (t1 - t0, t2 - t1))}


def time_case(h, w, padding, reps, reps_fb):
    sharp, kernels, mixing = make_inputs(h, w, padding)
    fns = methods()
    with torch.no_grad():
        ref = fns["ref"](sharp, kernels, mixing, padding)
    gout = torch.randn_like(ref)
    chosen = choose(sharp, kernels, mixing, padding, gout)
    with torch.no_grad():
        errs = {n: ((f(sharp, kernels, mixing, padding) - ref).abs().max() / ref.abs().max()).item()
                for n, f in fns.items()}
    best = {}
    for _ in range(reps):
        for name, f in fns.items():
            with torch.no_grad():
                t0 = time.perf_counter()
                f(sharp, kernels, mixing, padding)
                dt = time.perf_counter() - t0
            best[name] = min(best.get(name, float("inf")), dt)
    for _ in range(reps_fb):
        for name in ("ref", "ours"):
            t0 = time.perf_counter()
            fwd_bwd(fns[name], sharp, kernels, mixing, padding, gout)
            dt = time.perf_counter() - t0
            best[name + "_fb"] = min(best.get(name + "_fb", float("inf")), dt)
    return best, errs, chosen


def mem_worker(h, w, padding, method, mode):
    """Runs in a subprocess: growth of the peak resident set (MiB) during one call, inputs excluded."""
    sharp, kernels, mixing = make_inputs(h, w, padding)
    fn = methods()[method]
    gout = torch.randn(1, C, *mixing.shape[-2:]) if mode == "fb" else None
    # reset the high-water mark (Linux >= 4.0) so that import-time peaks do not hide ours
    before = status_mib("VmRSS") if reset_peak_rss() else None
    if before is None:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if mode == "fb":
        fwd_bwd(fn, sharp, kernels, mixing, padding, gout)
    else:
        with torch.no_grad():
            fn(sharp, kernels, mixing, padding)
    after = status_mib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(after - before))


def peak_mem(h, w, padding, method, mode, path):
    cmd = [sys.executable, os.path.abspath(__file__), "--mem-worker", f"{h},{w},{padding},{method},{mode}"]
    env = {**os.environ, autotune.ENV: path.name}  # the path chosen here (no candidates timed there)
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, less memory probing")
    ap.add_argument("--keep-choices", action="store_true", help="keep this machine's earlier path choices")
    ap.add_argument("--mem-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mem_worker:
        h, w, padding, method, mode = args.mem_worker.split(",")
        mem_worker(int(h), int(w), padding, method, mode)
        return

    has_dinv = "deepinv" in methods()
    if not args.keep_choices:
        autotune.clear(disk=True)
    print(f"processor: {autotune.processor()} ({os.cpu_count()} CPUs)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, K={K} B={B} C={C} N=1, float32, "
          f"load average {os.getloadavg()[0]:.2f}")
    if not has_dinv:
        print("deepinv not installed: its column is skipped")
    rows = []
    for h, w, padding in CASES:
        big = h * w > 500_000
        reps = (2 if big else 5) if args.quick else (5 if big else 40)
        reps_fb = (1 if big else 2) if args.quick else (2 if big else 5)
        best, errs, chosen = time_case(h, w, padding, reps, reps_fb)
        mem = {}
        for method in ("ref", "ours") + (("deepinv",) if has_dinv else ()):
            mem[method] = peak_mem(h, w, padding, method, "f", chosen["f"][0])
            if method != "deepinv" and not (args.quick and big):
                mem[method + "_fb"] = peak_mem(h, w, padding, method, "fb", chosen["fb"][0])
        rows.append((h, w, padding, best, errs, mem, chosen))

    ms = lambda s: f"{1e3 * s:9.1f}"  # noqa: E731
    print()
    print(f"{'size (sharp)':>13} {'padding':>8} {'ref ms':>9} {'ours ms':>9} {'ratio':>6} {'f+b ratio':>9} "
          f"{'deepinv ms':>10} {'ratio':>6} {'rel err':>8} {'peak MiB ref/ours/dinv (fwd)':>29} "
          f"{'peak MiB f+b ref/ours':>22}")
    for h, w, padding, best, errs, mem, _ in rows:
        fb = best["ref_fb"] / best["ours_fb"]
        if "deepinv" in best:
            dinv = f"{ms(best['deepinv']):>10} {best['deepinv'] / best['ours']:6.2f}"
            dmem = f"{mem['deepinv']:.0f}"
        else:
            dinv, dmem = f"{'-':>10} {'-':>6}", "-"
        fwd_mem = f"{mem['ref']:.0f}/{mem['ours']:.0f}/{dmem}"
        fb_mem = f"{mem['ref_fb']:.0f}/{mem['ours_fb']:.0f}" if "ours_fb" in mem else "-"
        print(f"{f'{w}x{h}':>13} {padding:>8} {ms(best['ref'])} {ms(best['ours'])} "
              f"{best['ref'] / best['ours']:6.2f} {fb:9.2f} {dinv} {errs['ours']:8.1e} {fwd_mem:>29} {fb_mem:>22}")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    print("ratio = ref / ours (forward, no grad); f+b ratio = the same for forward+backward in all three inputs;")
    print("deepinv ratio = deepinv / ours (product_convolution2d, mask_first=False, use_fft=True);")
    print("rel err = max |ours - ref| / max |ref|; f+b ms: " + ", ".join(
        f"{w}x{h} {padding}: ref {ms(b['ref_fb']).strip()} ours {ms(b['ours_fb']).strip()}"
        for h, w, padding, b, _, _, _ in rows))
    if has_dinv:
        print("deepinv rel err vs ref: " + ", ".join(f"{w}x{h} {p}: {e['deepinv']:.1e}"
                                                     for h, w, p, _, e, _, _ in rows))
    print("\npaths chosen (choose s = the first call, candidates timed; candidate ms = the chooser's minimum):")
    for h, w, padding, _, _, _, chosen in rows:
        for mode, (path, times, dt) in chosen.items():
            cands = ", ".join(f"{n} {1e3 * t:.1f}" for n, t in sorted(times.items(), key=lambda kv: kv[1]))
            print(f"  {w}x{h} {padding} {'fwd' if mode == 'f' else 'f+b'}: {path.name} "
                  f"(choose {dt:.2f} s{'; ' + cands if cands else ''})")


if __name__ == "__main__":
    main()
