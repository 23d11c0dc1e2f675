"""Bounded memory for image-to-image methods: run a step on overlapping tiles and put the outputs together.

An image above :data:`TILE_ABOVE` pixels is cut into :data:`TILE`-pixel cores, each given :data:`MARGIN` pixels of
context on every side (cropped off again), so a method whose output at a pixel depends only on a neighbourhood
smaller than the margin gives the same values as on the whole image. Every tensor of the batch with the image's
spatial size (blurry, sharp, mixing maps, masks) is cropped alike; other entries (ids, kernels) pass unchanged.
Outputs of the tile's spatial size are put together from the cores; others are taken from the first tile.
``blurbench predict`` and ``blurbench evaluate`` (restored images, blur scores) both go through here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch

__all__ = ["MARGIN", "TILE", "TILE_ABOVE", "run_in_tiles"]

#: images with more pixels than this are processed in tiles (smaller ones whole)
TILE_ABOVE = 2_500_000
#: side of a tile's kept core, and the context added on every side (cropped off): 3 x the 33-px kernels' radius
#: of the field-based deconvolutions' support, and well beyond the DeblurGAN generator's edge effects
TILE, MARGIN = 1024, 96

Out = TypeVar("Out", torch.Tensor, dict)


def _crop(batch: dict[str, Any], size: tuple[int, int], ys: slice, xs: slice) -> dict[str, Any]:
    return {k: v[..., ys, xs] if isinstance(v, torch.Tensor) and v.dim() >= 2 and tuple(v.shape[-2:]) == size else v
            for k, v in batch.items()}


def run_in_tiles(step: Callable[[dict[str, Any]], Out], batch: dict[str, Any], *, note: bool = False) -> Out:
    """``step(batch)`` on the whole image if it is small, else on overlapping tiles put together (module doc).

    ``step`` returns a tensor or a dict; ``batch["blurry"]`` [N, C, H, W] gives the spatial size. ``note``: print
    one line per tiled image (``predict`` does; ``evaluate`` documents it instead).
    """
    height, width = batch["blurry"].shape[-2:]
    if height * width <= TILE_ABOVE:
        return step(batch)
    if note:
        print(f"note: {', '.join(batch['id'])}: {width}x{height} ({height * width / 1e6:.1f} MP) processed in "
              f"{TILE}-px tiles with {MARGIN}-px overlap (bounded memory)")
    out: dict[str, Any] = {}
    as_tensor = False
    for y0 in range(0, height, TILE):
        for x0 in range(0, width, TILE):
            y1, x1 = min(y0 + TILE, height), min(x0 + TILE, width)
            ya, xa = max(0, y0 - MARGIN), max(0, x0 - MARGIN)
            yb, xb = min(height, y1 + MARGIN), min(width, x1 + MARGIN)
            pred = step(_crop(batch, (height, width), slice(ya, yb), slice(xa, xb)))
            if isinstance(pred, torch.Tensor):
                as_tensor, pred = True, {"": pred}
            for key, value in pred.items():
                if isinstance(value, torch.Tensor) and value.dim() >= 2 and value.shape[-2:] == (yb - ya, xb - xa):
                    if key not in out:
                        out[key] = value.new_empty((*value.shape[:-2], height, width))
                    out[key][..., y0:y1, x0:x1] = value[..., y0 - ya:y1 - ya, x0 - xa:x1 - xa]
                else:
                    out.setdefault(key, value)
    return out[""] if as_tensor else out
