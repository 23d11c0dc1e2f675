"""Segments and spatially varying blur fields for synthetic training data (Carbajal et al. 2021, §3.3).

A *blur field* is what the forward model ``v = sum_b m_b * (u ⋆ k_b)`` needs: kernels ``k_b`` [B, K, K] and
mixing maps ``m_b`` [B, H, W] (``H x W`` = the blurry/output size) with ``sum_b m_b = 1`` at every pixel.
:func:`sample_blur_field` builds one as in the paper: the whole image blurred with one kernel, plus up
to ``max_segments`` segments (from a label map, or random blobs) each blurred with its own kernel, with
soft transitions obtained by correlating each hard segment mask with its own kernel.

Compositing (exact, per pixel; ``s_i = clip(S_i ⋆ k_i, 0, 1)`` the soft mask of segment ``i = 1..S``, drawn
in list order, later segments in front)::

    m_0 = prod_{i=1..S} (1 - s_i)                 (background, kernel k_0)
    m_i = s_i * prod_{j=i+1..S} (1 - s_j)          (segment i, kernel k_i)

which telescopes to ``sum_b m_b = 1``. This is alpha-over compositing of the segments, each carrying its
own blur. (The authors' dataset code instead correlates every mask — background included — with its
kernel and divides by the sum; that also sums to 1 but lets a blurred background bleed over a segment.)
Segment masks are correlated with ``F.conv2d`` semantics (``cv2.filter2D``) and replicate padding, so a
segment touching the image border stays opaque there.

Per-pixel loss weights follow the authors' later training script (the two-heads trainer built on their
``COCONonUniformBlurDataset``; it is not part of the public NonUniformBlurKernelEstimation repository):
``gt_masks_sums = gt_masks.sum((2, 3))``, ``masks_areas = (gt_masks * gt_masks_sums).sum(1)``,
``roi = max_b(gt_masks > 0.95)``, ``weights = roi / (masks_areas + 1)``. With ``A_b = sum_x m_b(x)`` the
(soft) area of map ``b``::

    area(x)   = sum_b m_b(x) * A_b                    (area of the pixel's segment, soft)
    roi(x)    = 1 if max_b m_b(x) > 0.95 else 0      (a single kernel dominates the pixel)
    weight(x) = roi(x) / (area(x) + 1)

so every segment contributes about the same total weight (~1) whatever its size, and transition pixels
(where kernels mix) are left out of the kernel loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from blurbench.ops.kernels import KernelBank, KernelParams, delta_kernel, random_kernels

__all__ = ["BlurField", "ROI_THRESHOLD", "loss_weights", "random_regions", "sample_blur_field",
           "segments_from_label_map"]

#: a pixel is in the loss ROI when one mixing map exceeds this (authors' training code)
ROI_THRESHOLD = 0.95


# -------------------------------------------------------------------------------------------- regions
def _blob(height: int, width: int, area: float, rng: np.random.Generator) -> np.ndarray:
    """One smooth random star-shaped blob (bool [H, W]) of roughly ``area`` px before border clipping."""
    n_vert = 96
    theta = np.linspace(0, 2 * np.pi, n_vert, endpoint=False)
    # log-radius = a few random low-frequency harmonics with 1/k amplitudes: smooth, object-like outlines
    harmonics = np.arange(1, 6)
    amp = rng.normal(0.0, 0.22, size=harmonics.size) / harmonics
    phase = rng.uniform(0, 2 * np.pi, size=harmonics.size)
    log_r = (amp[:, None] * np.cos(harmonics[:, None] * theta[None, :] + phase[:, None])).sum(0)
    r = np.exp(log_r)
    elong = np.exp(rng.uniform(-0.6, 0.6))  # aspect ratio up to ~3.3:1
    rot = rng.uniform(0, np.pi)
    x, y = r * np.cos(theta) * elong, r * np.sin(theta) / elong
    x, y = x * np.cos(rot) - y * np.sin(rot), x * np.sin(rot) + y * np.cos(rot)
    unit_area = 0.5 * np.abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))  # shoelace
    s = np.sqrt(area / unit_area)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    # fillPoly works in fixed point: 4 fractional bits give sub-pixel vertex positions
    pts = np.round(np.stack([cx + s * x, cy + s * y], 1) * 16).astype(np.int32)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def random_regions(
    height: int, width: int, n: int, rng: np.random.Generator, min_area: int = 400, *,
    max_area_fraction: float = 0.4, max_attempts: int = 30,
) -> list[np.ndarray]:
    """Up to ``n`` disjoint object-like regions (bool [H, W] each, >= ``min_area`` px).

    Each is a smooth random blob (star-shaped polygon with a random low-frequency outline, random
    elongation and orientation) whose target area is log-uniform in
    ``[1.5 * min_area, max_area_fraction * H * W]``; the parts already taken by earlier regions are
    removed, and a region is redrawn (up to ``max_attempts`` times) when fewer than ``min_area`` pixels
    remain. Fewer than ``n`` regions are returned only when the image cannot hold them.
    """
    total = height * width
    lo = 1.5 * min_area
    hi = max(max_area_fraction * total, lo)
    if n <= 0 or total < min_area:
        return []
    taken = np.zeros((height, width), bool)
    regions: list[np.ndarray] = []
    for _ in range(n):
        for _attempt in range(max_attempts):
            area = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            blob = _blob(height, width, area, rng) & ~taken
            if blob.sum() >= min_area:
                regions.append(blob)
                taken |= blob
                break
    return regions


def segments_from_label_map(
    labels: np.ndarray, max_segments: int = 3, min_area: int = 400, rng: np.random.Generator | None = None,
    *, ignore: Sequence[int] = (0,), connectivity: int = 8,
) -> list[np.ndarray]:
    """Pick up to ``max_segments`` segments (bool [H, W]) from a class-id label map (ADE20K-style PNG).

    Candidates are the connected components of every class mask (class ids in ``ignore`` — ADE20K's 0,
    "unlabelled" — are skipped) with at least ``min_area`` pixels; they are disjoint. ``rng`` picks
    uniformly without replacement; without it the largest components are returned (deterministic).
    """
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D class-id map, got shape {labels.shape}")
    if max_segments <= 0:
        return []
    cands: list[tuple[int, int, int]] = []  # (area, index into comp_maps, component id)
    comp_maps: list[np.ndarray] = []  # kept only for classes that have a candidate (memory)
    for cls in np.unique(labels):
        if int(cls) in ignore:
            continue
        n, comp, stats, _ = cv2.connectedComponentsWithStats((labels == cls).astype(np.uint8), connectivity)
        big = [j for j in range(1, n) if stats[j, cv2.CC_STAT_AREA] >= min_area]
        if big:
            comp_maps.append(comp)
            cands += [(int(stats[j, cv2.CC_STAT_AREA]), len(comp_maps) - 1, j) for j in big]
    if not cands:
        return []
    k = min(max_segments, len(cands))
    if rng is None:
        order = sorted(range(len(cands)), key=lambda i: -cands[i][0])[:k]
    else:
        order = rng.choice(len(cands), size=k, replace=False).tolist()
    return [comp_maps[cands[i][1]] == cands[i][2] for i in order]


# ------------------------------------------------------------------------------------------ blur field
@dataclass
class BlurField:
    """A ground-truth blur field at the blurry (output) size H x W.

    Attributes:
        kernels: [B, K, K] float32, each sums to 1 (``kernels[0]`` blurs the background; padding kernels are
            centred deltas).
        mixing: [B, H, W] float32 in [0, 1], summing to 1 over B at every pixel (padding maps are 0).
        weights: [H, W] float32 per-pixel loss weights (see :func:`loss_weights`).
        segments: [S, H, W] bool hard segment masks (S <= B - 1), segment i uses ``kernels[i + 1]``.
    """

    kernels: np.ndarray
    mixing: np.ndarray
    weights: np.ndarray
    segments: np.ndarray

    @property
    def num_active(self) -> int:
        """Kernels actually used: the background plus one per segment."""
        return 1 + int(self.segments.shape[0])


def loss_weights(mixing: np.ndarray, threshold: float = ROI_THRESHOLD) -> np.ndarray:
    """Per-pixel weights [H, W] from mixing maps [B, H, W]: ``roi / (sum_b m_b * A_b + 1)`` (module doc)."""
    m = mixing.astype(np.float64)
    areas = m.sum(axis=(1, 2))  # [B] soft area of every map
    area = np.tensordot(areas, m, axes=(0, 0))  # [H, W]
    roi = (m > threshold).any(0)
    return (roi / (area + 1.0)).astype(np.float32)


def _soft_mask(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``clip(mask ⋆ kernel, 0, 1)``: F.conv2d-style correlation, replicate border (stays opaque at edges)."""
    out = cv2.filter2D(mask.astype(np.float32), cv2.CV_32F, kernel, borderType=cv2.BORDER_REPLICATE)
    # filter2D uses an FFT for large kernels: clip its +-1e-7 round-off so maps stay in [0, 1]
    return np.clip(out, 0.0, 1.0)


def _label_crop(labels: np.ndarray, height: int, width: int, kernel_size: int) -> np.ndarray:
    if labels.shape == (height, width):
        return labels
    if labels.shape == (height + kernel_size - 1, width + kernel_size - 1):  # the sharp ('valid') crop
        r = kernel_size // 2
        return labels[r:r + height, r:r + width]
    raise ValueError(f"segmentation of shape {labels.shape} matches neither the blurry size "
                     f"({height}, {width}) nor the valid sharp size ({height + kernel_size - 1}, "
                     f"{width + kernel_size - 1})")


def sample_blur_field(
    height: int, width: int, *, rng: np.random.Generator, kernel_size: int = 33, max_segments: int = 3,
    num_kernels: int | None = None, segmentation: np.ndarray | Sequence[np.ndarray] | None = None,
    bank: KernelBank | None = None, min_segment_area: int = 400,
    kernel_kinds: Sequence[str] = ("camera_shake",), min_segments: int = 0,
    kernel_params: KernelParams | None = None, segment_kinds: Sequence[str] | None = None,
    sharp_prob: float = 0.0,
) -> BlurField:
    """Sample a blur field of output size ``height x width`` (see the module docstring for the maths).

    Args:
        rng: the only source of randomness (same generator state -> same field).
        max_segments, min_segments: the number of segments is uniform in {min_segments..max_segments},
            capped by what the image offers.
        num_kernels: pad to this fixed B (centred deltas with zero mixing) so fields stack into batches;
            must be >= 1 + max_segments. None: B = 1 + the number of segments used.
        segmentation: None (random blobs, :func:`random_regions`); a 2-D integer class-id map at the
            blurry size or at the 'valid' sharp size (H + K - 1, W + K - 1, centre-cropped) from which
            segments are picked (:func:`segments_from_label_map`); or a sequence / [S, H, W] array of bool
            masks at the blurry size, used as given (the first ``max_segments``) in that front-to-back order.
        bank: draw kernels from this bank; None generates ``kernel_kinds`` on the fly.
        segment_kinds: draw the segments' kernels on the fly from these kinds (e.g. ``("object",)``: objects
            moving on their own) instead of from ``bank``/``kernel_kinds``; None: like the background.
        sharp_prob: each region (background and every segment) independently stays sharp (delta kernel) with
            this probability, so that images with sharp and blurred parts occur (blur detection needs them).
            0 and None draw nothing extra from ``rng``: fields of the default settings never change.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    if not 0 <= min_segments <= max_segments:
        raise ValueError(f"need 0 <= min_segments <= max_segments, got {min_segments}, {max_segments}")
    if num_kernels is not None and num_kernels < 1 + max_segments:
        raise ValueError(f"num_kernels={num_kernels} cannot hold the background and {max_segments} segments; "
                         f"use num_kernels >= {1 + max_segments}")
    if not 0.0 <= sharp_prob <= 1.0:
        raise ValueError(f"sharp_prob is a probability in [0, 1], got {sharp_prob}")
    if bank is not None and bank.size != kernel_size:
        raise ValueError(f"kernel bank holds {bank.size}x{bank.size} kernels but kernel_size={kernel_size}")

    # ------------------------------------------------------------------------------------- segments
    explicit = segmentation is not None and (
        not isinstance(segmentation, np.ndarray) or segmentation.dtype == bool
    )
    if explicit:
        if isinstance(segmentation, np.ndarray) and segmentation.ndim == 2:
            segmentation = [segmentation]  # one mask, not a stack of rows
        segs = [np.asarray(s, dtype=bool) for s in segmentation][:max_segments]
        for s in segs:
            if s.shape != (height, width):
                raise ValueError(f"segment masks must be ({height}, {width}), got {s.shape}")
    else:
        wanted = int(rng.integers(min_segments, max_segments + 1))
        if segmentation is None:
            segs = random_regions(height, width, wanted, rng, min_segment_area)
        else:
            labels = _label_crop(np.asarray(segmentation), height, width, kernel_size)
            segs = segments_from_label_map(labels, wanted, min_segment_area, rng)
    n_seg = len(segs)

    # -------------------------------------------------------------------------------------- kernels
    n_active = 1 + n_seg
    if bank is not None:
        kernels = bank.sample(rng, n_active)
    else:
        kernels = random_kernels(n_active, kernel_size, rng=rng, kinds=kernel_kinds, params=kernel_params)
    if segment_kinds is not None and n_seg:
        kernels = np.array(kernels, copy=True)
        kernels[1:] = random_kernels(n_seg, kernel_size, rng=rng, kinds=segment_kinds, params=kernel_params)
    if sharp_prob > 0:
        kernels = np.array(kernels, copy=True)
        kernels[rng.random(n_active) < sharp_prob] = delta_kernel(kernel_size)

    # ----------------------------------------------------------------------- alpha-over compositing
    b = n_active if num_kernels is None else num_kernels
    mixing = np.zeros((b, height, width), np.float32)
    rest = np.ones((height, width), np.float32)  # prod_{j > i} (1 - s_j), built front to back
    for i in range(n_seg, 0, -1):
        s = _soft_mask(segs[i - 1], kernels[i])
        mixing[i] = s * rest
        rest *= 1.0 - s
    mixing[0] = rest
    out_kernels = np.empty((b, kernel_size, kernel_size), np.float32)
    out_kernels[:n_active] = kernels
    out_kernels[n_active:] = delta_kernel(kernel_size)
    segments = np.stack(segs) if segs else np.zeros((0, height, width), bool)
    return BlurField(out_kernels, mixing, loss_weights(mixing), segments)
