"""Dead-leaves images and the synthetic training options (dead leaves, augmentation, flat-crop rejection)."""

import numpy as np
import pytest
import torch

from blurbench.datamodules.synthetic import SyntheticBlurDataset, find_items, texture
from blurbench.ops.dead_leaves import dead_leaves, sample_radius


def test_same_seed_same_image_other_seed_other_image():
    a, b, c = dead_leaves(48, 40, 3), dead_leaves(48, 40, 3), dead_leaves(48, 40, 4)
    assert a.shape == (48, 40, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.5


def test_images_are_coloured_textured_and_covered():
    imgs = [dead_leaves(64, 64, s) for s in range(6)]
    # edges almost everywhere, unlike a flat crop (one leaf may fill a frame now and then: scale invariance)
    assert np.median([texture(img) for img in imgs]) > 0.02
    for img in imgs:
        chroma = np.abs(img.astype(np.int16) - img.mean(axis=2, keepdims=True).astype(np.int16)).mean()
        assert chroma > 3  # colour, not grey
    # front-to-back rendering covers the frame: no leftover mid-grey fill hole of many identical pixels
    flat = imgs[0].reshape(-1, 3)
    _, counts = np.unique(flat, axis=0, return_counts=True)
    assert counts.max() < flat.shape[0]


def test_radius_power_law():
    rng = np.random.default_rng(0)
    r = sample_radius(rng, 200_000, 2.0, 50.0, 3.0)
    assert r.min() >= 2.0 and r.max() <= 50.0
    # CDF of p(r) ∝ r^-3 on [a, b]: (a^-2 - r^-2) / (a^-2 - b^-2)
    for q in (4.0, 10.0):
        expect = (2.0 ** -2 - q ** -2) / (2.0 ** -2 - 50.0 ** -2)
        assert abs((r <= q).mean() - expect) < 0.005
    with pytest.raises(ValueError):
        dead_leaves(8, 8, 0, r_min=0)


def _peak_share(img: np.ndarray) -> float:
    """Share of the strongest non-DC frequency (and its mirror) in the grey image's AC energy."""
    p = np.abs(np.fft.fft2(img.mean(axis=2) - img.mean())) ** 2
    return float(2 * p.max() / p.sum())


def test_noise_texture_is_broadband_unlike_a_grating():
    # one leaf larger than the frame covers it: the image is that leaf's texture
    kw = dict(r_min=200.0, r_max=200.0, texture_prob=1.0, supersample=1)
    gratings = [dead_leaves(64, 64, s, textures=("grating",), **kw) for s in range(12)]
    noises = [dead_leaves(64, 64, s, textures=("noise",), **kw) for s in range(12)]
    # a grating puts its energy in one frequency; the noise spreads it (cloudy slopes still peak low: medians)
    assert np.median([_peak_share(g) for g in gratings]) > 2.5 * np.median([_peak_share(n) for n in noises])
    assert min(n.std() for n in noises) > 5  # textured, not flat
    np.testing.assert_array_equal(noises[0], dead_leaves(64, 64, 0, textures=("noise",), **kw))
    # the default draws what it drew before "noise" existed: naming the one kind changes nothing
    np.testing.assert_array_equal(dead_leaves(64, 64, 5), dead_leaves(64, 64, 5, textures=("grating",)))
    with pytest.raises(ValueError, match="textures"):
        dead_leaves(8, 8, 0, textures=("fur",))


def _folder(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "flat.png"), np.full((80, 80, 3), 120, np.uint8))
    cv2.imwrite(str(tmp_path / "busy.png"), rng.integers(0, 255, (80, 80, 3), dtype=np.uint8))
    return find_items(tmp_path, "train", val_fraction=0.0)


def _ds(items, **kw):
    return SyntheticBlurDataset(items, train=True, crop_size=24, kernel_size=9, max_segments=1, **kw)


def test_defaults_leave_the_training_stream_unchanged(tmp_path):
    items = _folder(tmp_path)
    torch.manual_seed(5)
    a = _ds(items)[0]
    torch.manual_seed(5)
    b = _ds(items, dead_leaves=0.0, augment=False, min_texture=0.0, quantize=False)[0]
    torch.testing.assert_close(a["blurry"], b["blurry"])


def test_dead_leaves_share_flat_rejection_augment_quantize(tmp_path):
    items = _folder(tmp_path)
    flat = [i for i, it in enumerate(items) if it.id == "flat.png"][0]
    ds = _ds(items, min_texture=0.05)
    ids = [ds[flat]["id"] for _ in range(8)]
    assert ids == ["busy.png"] * 8  # the flat image is always redrawn
    ds = _ds(items, dead_leaves=1.0, augment=True, quantize=True)
    s = ds[flat]
    assert s["id"] == "dead-leaves" and s["sharp"].shape == (3, 32, 32)
    q = s["blurry"] * 255
    torch.testing.assert_close(q, q.round())  # 8-bit levels
    # augmentation gives grey images colour
    grey = _ds(items, augment=True)[flat]["sharp"]
    assert (grey[0] - grey[1]).abs().max() > 0.01
    with pytest.raises(ValueError, match="share"):
        _ds(items, dead_leaves=1.5)


def _gradient(img: np.ndarray) -> np.ndarray:
    g = img.astype(np.float32).mean(axis=2)
    return np.maximum(np.abs(np.diff(g, axis=0))[:, :-1], np.abs(np.diff(g, axis=1))[:-1, :])


def _ramps(g: np.ndarray) -> float:
    """Share of gentle ramps: flat leaves have steps (0 inside, large at edges), a defocused background ramps."""
    return float(((g >= 0.5) & (g <= 6.0)).mean())


def test_depth_of_field_defocuses_the_leaves_behind_a_sharp_front():
    kw = dict(texture_prob=0.0, focus_cover=(0.5, 0.5), defocus_sigma=(4.0, 4.0))
    sharp = [_gradient(dead_leaves(96, 96, s, **kw)) for s in range(8)]
    dof = [_gradient(dead_leaves(96, 96, s, depth_of_field=1.0, **kw)) for s in range(8)]
    assert np.mean([_ramps(g) for g in dof]) > 3 * np.mean([_ramps(g) for g in sharp])
    # the in-focus front keeps hard edges
    assert min(float((g > 40).mean()) for g in dof) > 0.01
    a = dead_leaves(64, 64, 3, depth_of_field=1.0)
    np.testing.assert_array_equal(a, dead_leaves(64, 64, 3, depth_of_field=1.0))
    assert (a != dead_leaves(64, 64, 3)).mean() > 0.3
    for bad in ({"depth_of_field": 1.5}, {"focus_cover": (0.8, 0.2)}, {"defocus_sigma": (0.0, 2.0)}):
        with pytest.raises(ValueError):
            dead_leaves(8, 8, 0, **bad)
