"""How much tiling changes the outputs of image methods: tiled vs whole-image run on one large photo.

``predict`` and ``evaluate`` run image-to-image methods in overlapping tiles above
``blurbench.tasks.tiling.TILE_ABOVE`` pixels (bounded memory). This bench runs every image method runnable here
that needs no ground-truth field on a photo just above that size, once whole and once in tiles, and prints the
PSNR of the tiled output against the whole one (dB; inf = identical), the largest absolute difference (in 8-bit
levels), and the time of the tiled run relative to the whole run (the reference, measured in the same run).
``--tiles`` repeats the tiled run for several tile sizes (the margin unchanged): how the seams of networks with
instance normalisation (per-tile statistics) shrink as tiles grow.

    python bench/bench_tiling.py [--methods a,b] [--megapixels 2.6] [--tiles 512,1024,1536]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from blurbench.datamodules import builtin
from blurbench.ops.reblur_autotune import processor
from blurbench.tasks import tiling
from blurbench.tasks.registry import get_method, methods


def photo(megapixels: float) -> torch.Tensor:
    """A deterministic photo-like image [1, 3, H, W] of about ``megapixels`` (3:2): a built-in blurry photo upscaled."""
    src = cv2.cvtColor(cv2.imread(str(builtin.prepare("motion") / "astronaut" / "blurry.png")), cv2.COLOR_BGR2RGB)
    width = int((megapixels * 1e6 * 3 / 2) ** 0.5)
    big = cv2.resize(src, (width, width * 2 // 3), interpolation=cv2.INTER_CUBIC)
    return torch.from_numpy(np.ascontiguousarray(big.transpose(2, 0, 1))).float().div(255)[None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=None, help="comma-separated (default: every image method runnable here)")
    parser.add_argument("--megapixels", type=float, default=tiling.TILE_ABOVE / 1e6 + 0.1)
    parser.add_argument("--tiles", default=str(tiling.TILE), help="comma-separated tile sizes (px, kept core)")
    args = parser.parse_args()
    tiles = [int(t) for t in args.tiles.split(",")]
    image = photo(args.megapixels)
    h, w = image.shape[-2:]
    specs = [get_method(n) for n in args.methods.split(",")] if args.methods else [
        s for s in methods() if s.data_kind in ("image", "detection") and not s.uses_gt_field
        and s.task in ("deblurring", "blur-detection") and not s.missing_weights()]
    print(f"processor: {processor()}; torch {torch.__version__}, {torch.get_num_threads()} threads; photo {w}x{h} "
          f"({h * w / 1e6:.2f} MP); tiles {tiling.TILE} px + {tiling.MARGIN} px margin above "
          f"{tiling.TILE_ABOVE / 1e6:.1f} MP")
    print(f"{'method':28s} {'tile':>5s} {'PSNR tiled vs whole':>20s} {'max |diff| (8-bit)':>19s} "
          f"{'mean |diff|':>11s} {'whole s':>8s} {'tiled/whole':>11s}")
    batch = {"id": ["photo"], "blurry": image}
    for spec in specs:
        model = spec.build().eval()
        run = model.restore if spec.task == "deblurring" else model.blur_score
        with torch.inference_mode():
            start = time.perf_counter()
            whole = run(batch).clamp(0, 1)
            t_whole = time.perf_counter() - start
        default = tiling.TILE
        for tile in tiles:
            tiling.TILE = tile
            with torch.inference_mode():
                start = time.perf_counter()
                tiled = tiling.run_in_tiles(run, batch).clamp(0, 1)
                t_tiled = time.perf_counter() - start
            tiling.TILE = default
            mse = float((tiled.double() - whole.double()).pow(2).mean())
            psnr = float("inf") if mse == 0 else 10 * np.log10(1 / mse)
            diff = (tiled - whole).abs()
            print(f"{spec.name:28s} {tile:5d} {psnr:20.2f} {float(diff.max()) * 255:19.2f} "
                  f"{float(diff.mean()) * 255:11.3f} {t_whole:8.1f} {t_tiled / t_whole:11.2f}", flush=True)


if __name__ == "__main__":
    main()
