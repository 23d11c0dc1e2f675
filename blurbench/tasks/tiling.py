"""Bounded memory for image-to-image methods: run a step on overlapping tiles and put the outputs together.

An image above :data:`TILE_ABOVE` pixels is cut into :data:`TILE`-pixel cores, each given :data:`MARGIN` pixels of
context on every side (cropped off again), so a method whose output at a pixel depends only on a neighbourhood
smaller than the margin gives the same values as on the whole image. Every tensor of the batch with the image's
spatial size (blurry, sharp, mixing maps, masks) is cropped alike; other entries (ids, kernels) pass unchanged.
Outputs of the tile's spatial size are put together from the cores; others are taken from the first tile.
``blurbench predict`` and ``blurbench evaluate`` (restored images, blur scores; scored datasets and the real-blur
suites alike) both go through here, by :meth:`~blurbench.tasks.base.ImageRestorationTask.restore_tiled` and
:meth:`~blurbench.tasks.detection.BlurDetectionTask.blur_score_tiled`.

Kernel estimation cannot be tiled (one set of basis kernels for full-size mixing maps): it runs on images up to
:func:`field_limit` pixels (:data:`FIELD_MAX_PIXELS`, less for a wide blur-field network) and
:func:`check_field_size` refuses larger ones with one line, before any work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import torch

from blurbench.datamodules.folder import image_info
from blurbench.errors import ConfigError

__all__ = ["FIELD_MAX_PIXELS", "MARGIN", "TILE", "TILE_ABOVE", "check_field_size", "field_limit", "field_max_pixels",
           "large_images", "run_in_tiles"]

#: images with more pixels than this are processed in tiles (smaller ones whole)
TILE_ABOVE = 2_500_000
#: side of a tile's kept core, and the context added on every side (cropped off): 3 x the 33-px kernels' radius
#: of the field-based deconvolutions' support, and well beyond the DeblurGAN generator's edge effects
TILE, MARGIN = 1024, 96

#: largest image a kernel-estimation method runs on (25 full-size mixing maps plus their visualisations); chosen from
#: memory: blurfield-small's predict peaked at 6.99 GiB at 8 MP (about 0.8 GiB + 0.77 GiB/MP), so 5 MP keeps it under
#: 5 GiB (bench/bench_predict_memory.py)
FIELD_MAX_PIXELS = 5_000_000
#: predict's peak memory per megapixel of a blur-field network grows with its base width w (full-size w-channel
#: activations): about FIELD_GIB_PER_MP[0] + FIELD_GIB_PER_MP[1] * w GiB/MP, fitted to blurfield-small (w 10: 0.77)
#: and the released Carbajal et al. network (w 64: 2.12, peak 3.25 GiB at 1 MP, 5.37 at 2 MP; random weights,
#: bench/bench_predict_memory.py). FIELD_MAX_PIXELS holds for w <= FIELD_WIDTH; a wider network gets the pixels that
#: cost the same memory (w 64: 1.81 MP, about 5.0 GiB)
FIELD_GIB_PER_MP = (0.52, 0.025)
FIELD_WIDTH = 10

Out = TypeVar("Out", torch.Tensor, dict)


def _crop(batch: dict[str, Any], size: tuple[int, int], ys: slice, xs: slice) -> dict[str, Any]:
    return {k: v[..., ys, xs] if isinstance(v, torch.Tensor) and v.dim() >= 2 and tuple(v.shape[-2:]) == size else v
            for k, v in batch.items()}


def large_images(paths: Iterable[Path], limit: int) -> Iterable[tuple[Path, int, int]]:
    """(path, width, height) of each image file above ``limit`` pixels (header only: nothing is decoded)."""
    for path in paths:
        info = image_info(path)
        if info is not None and info[0] * info[1] > limit:
            yield path, info[0], info[1]


def field_max_pixels(base_width: int | None = None) -> int:
    """Largest image (pixels) kernel estimation runs on with a blur-field network of ``base_width`` (None: no
    network, e.g. mean-kernel): :data:`FIELD_MAX_PIXELS` scaled by the per-megapixel cost (constants above)."""
    if base_width is None or base_width <= FIELD_WIDTH:
        return FIELD_MAX_PIXELS
    a, b = FIELD_GIB_PER_MP
    return int(FIELD_MAX_PIXELS * (a + b * FIELD_WIDTH) / (a + b * base_width)) // 10_000 * 10_000


def network_width(source: str) -> int | None:
    """Base width of the blur-field network a model source names, from its recorded architecture (built on the meta
    device: no weights are read or allocated); None if it has none."""
    from blurbench.zoo.registry import build_arch  # deferred: zoo imports tasks' dependencies
    from blurbench.zoo.sources import describe  # deferred, as above

    cfg = describe(source)
    with torch.device("meta"):
        net = build_arch(cfg["arch"], cfg.get("ctor_args") or {})
    width = getattr(net, "base_width", None)
    return int(width) if width is not None else None


def field_limit(method: Any) -> int:
    """Pixel limit of a kernel-estimation method (a :class:`~blurbench.tasks.registry.MethodSpec`): from the width
    of the network its ``model`` names, :data:`FIELD_MAX_PIXELS` for methods without one."""
    model = (getattr(method, "config", None) or {}).get("model")
    return field_max_pixels(network_width(model) if isinstance(model, str) else None)


def check_field_size(paths: Iterable[Path], method: str, limit: int | None = None) -> None:
    """One line (:class:`ConfigError`) for the first image above ``limit`` pixels (default
    :data:`FIELD_MAX_PIXELS`; kernel estimation), saying which size fits."""
    limit = FIELD_MAX_PIXELS if limit is None else limit
    for path, width, height in large_images(paths, limit):
        scale = (limit / (width * height)) ** 0.5
        fits = f"{int(width * scale)}x{int(height * scale)}"
        raise ConfigError(f"{path}: {width}x{height} ({width * height / 1e6:.1f} MP) is above the "
                          f"{limit / 1e6:g} MP that kernel estimation ('{method}') runs on: its per-pixel mixing "
                          "maps (and the network's activations) are full size",
                          f"downscale the image (e.g. to {fits}) or crop the region of interest")


def run_in_tiles(step: Callable[[dict[str, Any]], Out], batch: dict[str, Any]) -> Out:
    """``step(batch)`` on the whole image if it is small, else on overlapping tiles put together (module doc).

    ``step`` returns a tensor or a dict; ``batch["blurry"]`` [N, C, H, W] gives the spatial size.
    """
    height, width = batch["blurry"].shape[-2:]
    if height * width <= TILE_ABOVE:
        return step(batch)
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
