"""Dead-leaves images: an unlimited, seeded source of colour textured training images (no files, no download).

The dead-leaves model (Matheron; used as a training prior for restoration networks by Achddou, Gousseau and
Ladjal, "Synthetic images as a regularity prior for image restoration neural networks", SSVM 2021, and by
VibrantLeaves, 2025) stacks random opaque shapes ("leaves") front to back until the image is covered. With
radii drawn from a power law p(r) ∝ r^-alpha on [r_min, r_max] and alpha ≈ 3 the images are statistically
scale invariant, like natural images, and hold edges at every scale and orientation with occlusions.

Here, as in VibrantLeaves, leaves are not only disks: ellipses (random aspect and orientation) and convex
polygons; each leaf is either flat or textured between two colours: a sinusoidal grating (random frequency and
orientation) or, with ``textures`` holding ``"noise"``, a stochastic micro-texture (Gaussian noise shaped by a
random power-law spectrum 1/f^beta with random anisotropy: the random-phase texture model, closer to fur,
foliage or tissue than a grating). Colours are a random grey level plus a random chroma of random strength. Rendering is
front to back (a leaf paints only the pixels still uncovered, so the hidden majority of small leaves costs little)
at ``supersample`` × the size, then area-downsampled: edges are anti-aliased like a camera's.

With ``depth_of_field``, also as in VibrantLeaves, the leaves behind an in-focus front are defocused: the image
holds smooth regions that are not motion blur (out-of-focus backgrounds, which a deblurring network trained on
all-sharp leaves learns to "sharpen" into flat patches).

Everything is a function of ``seed`` (numpy's ``default_rng``): the same seed gives the same image.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

__all__ = ["dead_leaves", "sample_radius"]


def sample_radius(rng: np.random.Generator, n: int, r_min: float, r_max: float, alpha: float) -> np.ndarray:
    """``n`` radii from p(r) ∝ r^-alpha on [r_min, r_max] (inverse transform; alpha = 1 is log-uniform)."""
    u = rng.random(n)
    if abs(alpha - 1.0) < 1e-9:
        return r_min * (r_max / r_min) ** u
    a = 1.0 - alpha
    return (r_min ** a + u * (r_max ** a - r_min ** a)) ** (1.0 / a)


def _colour(rng: np.random.Generator) -> np.ndarray:
    grey = rng.random()
    chroma = rng.uniform(-0.5, 0.5, 3) * rng.uniform(0.0, 1.0)
    return np.clip(grey + chroma - chroma.mean(), 0.0, 1.0).astype(np.float32)


def _leaf_mask(rng: np.random.Generator, radius: float, shape: str) -> np.ndarray:
    """A filled shape of about ``radius`` (uint8 0/1) in its own (2R+1)² box."""
    r = max(1, int(np.ceil(radius)))
    box = np.zeros((2 * r + 1, 2 * r + 1), np.uint8)
    if shape == "disk":
        cv2.circle(box, (r, r), int(round(radius)), 1, -1)
    elif shape == "ellipse":
        axes = (int(round(radius)), max(1, int(round(radius * rng.uniform(0.3, 1.0)))))
        cv2.ellipse(box, (r, r), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    else:  # convex polygon: 3-6 sorted angles on the circle
        n = int(rng.integers(3, 7))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        pts = np.stack([r + radius * np.cos(ang), r + radius * np.sin(ang)], 1).round().astype(np.int32)
        cv2.fillConvexPoly(box, pts, 1)
    return box


def _noise_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A [h, w] micro-texture in [0, 1]: white noise filtered by a random anisotropic power-law spectrum."""
    beta = rng.uniform(0.5, 2.5)  # spectral slope of the amplitude: 0.5 is grainy, 2.5 is cloudy
    aspect, theta = rng.uniform(1.0, 4.0), rng.uniform(0, np.pi)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    u = fx * np.cos(theta) + fy * np.sin(theta)
    v = (-fx * np.sin(theta) + fy * np.cos(theta)) * aspect  # anisotropy: streaks along theta (fur, grass)
    f = np.sqrt(u * u + v * v) + 1.0 / max(h, w)
    spectrum = np.fft.rfft2(rng.standard_normal((h, w))) * f ** -beta
    noise = np.fft.irfft2(spectrum, s=(h, w))
    noise /= noise.std() + 1e-12
    return (0.5 + 0.5 * np.tanh(rng.uniform(0.5, 2.0) * noise)).astype(np.float32)  # random contrast


def _paint(rng: np.random.Generator, radii: Iterator[float], h: int, w: int, textures: tuple[str, ...],
           texture_prob: float, shapes: tuple[str, ...], stop_left: int) -> tuple[np.ndarray, np.ndarray]:
    """Leaves front to back onto an [h, w, 3] canvas until at most ``stop_left`` pixels are uncovered (or the
    radii run out: then a full layer takes its mean colour in the holes); returns the canvas and its free mask."""
    canvas = np.zeros((h, w, 3), np.float32)
    free = np.ones((h, w), bool)  # not yet painted (front-to-back rendering)
    left = h * w
    for radius in radii:
        if left <= stop_left:
            break
        r = max(1, int(np.ceil(radius)))
        cy, cx = int(rng.integers(-r, h + r)), int(rng.integers(-r, w + r))
        y0, y1, x0, x1 = max(0, cy - r), min(h, cy + r + 1), max(0, cx - r), min(w, cx + r + 1)
        if y0 >= y1 or x0 >= x1 or not free[y0:y1, x0:x1].any():
            continue  # hidden behind nearer leaves: nothing to draw
        mask = _leaf_mask(rng, radius, shapes[int(rng.integers(len(shapes)))])
        m = mask[y0 - (cy - r):y1 - (cy - r), x0 - (cx - r):x1 - (cx - r)].astype(bool) & free[y0:y1, x0:x1]
        if not m.any():
            continue
        c1 = _colour(rng)
        if rng.random() < texture_prob:
            c2 = _colour(rng)
            kind = textures[int(rng.integers(len(textures)))] if len(textures) > 1 else textures[0]
            if kind == "noise":
                t = _noise_texture(rng, y1 - y0, x1 - x0)[m]
            else:
                period = rng.uniform(3.0, max(4.0, radius)) if radius > 3 else 3.0
                theta, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
                yy, xx = np.nonzero(m)
                t = 0.5 + 0.5 * np.sin(2 * np.pi * ((xx + x0) * np.cos(theta) + (yy + y0) * np.sin(theta)) / period
                                       + phase)
            canvas[y0:y1, x0:x1][m] = c1 + t[:, None].astype(np.float32) * (c2 - c1)
        else:
            canvas[y0:y1, x0:x1][m] = c1
        free[y0:y1, x0:x1][m] = False
        left -= int(m.sum())
    if left and stop_left == 0:
        canvas[free] = canvas[~free].mean(0) if left < h * w else 0.5
    return canvas, free


def dead_leaves(height: int, width: int, seed: int | np.random.Generator, *, alpha: float = 3.0,
                r_min: float = 4.0, r_max: float | None = None, texture_prob: float = 0.4,
                textures: tuple[str, ...] = ("grating",),
                shapes: tuple[str, ...] = ("disk", "ellipse", "polygon"), max_leaves: int = 20_000,
                supersample: int = 2, depth_of_field: float = 0.0, focus_cover: tuple[float, float] = (0.2, 0.8),
                defocus_sigma: tuple[float, float] = (1.0, 6.0)) -> np.ndarray:
    """A dead-leaves image [height, width, 3] uint8, a function of ``seed`` alone (see the module docstring).

    Args:
        alpha: power-law exponent of the radius distribution (3: scale invariant, as in Achddou et al.).
        r_min, r_max: radius range in output pixels (r_max default: the long side). r_min 4 rather than 1:
            with 1 the images are dominated by confetti-sized leaves and take ~10x longer to cover.
        texture_prob: share of textured leaves (between two colours).
        textures: kinds a textured leaf picks from, uniformly: "grating" (sinusoidal) and "noise" (stochastic
            micro-texture). The default draws exactly the random numbers it drew before "noise" existed.
        max_leaves: stop after this many leaves; pixels still uncovered take the mean colour of the image.
        supersample: render at this factor and area-downsample (anti-aliased edges).
        depth_of_field: probability that the image has an in-focus front (the first leaves, covering a share
            ``focus_cover`` of the frame) over a background defocused by a Gaussian of σ in ``defocus_sigma``
            (output px), as in VibrantLeaves: smooth regions that are not motion blur. 0 draws nothing extra.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    if not r_max:
        r_max = float(max(height, width))
    if not 0 < r_min <= r_max or alpha <= 0:
        raise ValueError(f"need 0 < r_min <= r_max and alpha > 0, got {r_min}, {r_max}, {alpha}")
    unknown = set(textures) - {"grating", "noise"}
    if unknown or not textures:
        raise ValueError(f"textures must be a non-empty subset of ('grating', 'noise'), got {textures}")
    if not 0.0 <= depth_of_field <= 1.0:
        raise ValueError(f"depth_of_field is a probability in [0, 1], got {depth_of_field}")
    if not (0.0 <= focus_cover[0] <= focus_cover[1] <= 1.0 and 0.0 < defocus_sigma[0] <= defocus_sigma[1]):
        raise ValueError(f"need 0 <= focus_cover low <= high <= 1 and 0 < defocus_sigma low <= high, "
                         f"got {focus_cover}, {defocus_sigma}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    s = supersample
    h, w = height * s, width * s
    radii = iter(sample_radius(rng, max_leaves, r_min * s, r_max * s, alpha))
    defocus = depth_of_field > 0 and rng.random() < depth_of_field
    if defocus:  # extra draws only when asked for: the default stream is the one drawn before this option
        cover, sigma = rng.uniform(*focus_cover), rng.uniform(*defocus_sigma) * s
        canvas, free = _paint(rng, radii, h, w, textures, texture_prob, shapes, stop_left=int((1 - cover) * h * w))
        # the leaves behind the in-focus ones: a full layer of their own (its blur needs what lies under the
        # front leaves too), defocused by a Gaussian, seen where the front leaves left the frame uncovered
        back, _ = _paint(rng, radii, h, w, textures, texture_prob, shapes, stop_left=0)
        back = cv2.GaussianBlur(back, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        canvas[free] = back[free]
    else:
        canvas, _ = _paint(rng, radii, h, w, textures, texture_prob, shapes, stop_left=0)
    if s > 1:
        canvas = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
    return np.clip(np.round(canvas * 255.0), 0, 255).astype(np.uint8)
