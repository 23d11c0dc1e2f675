"""Kernel generators and the kernel bank: invariants, reproducibility, conventions, file round trips."""

import json
import pickle

import numpy as np
import pytest

from blurbench.ops import kernels as kn
from blurbench.ops.kernels import (
    GENERATOR_VERSION,
    KINDS,
    KernelBank,
    KernelBankError,
    KernelParams,
    camera_shake_kernel,
    delta_kernel,
    linear_kernel,
    object_kernel,
    random_kernels,
)


def _check_kernels(ks: np.ndarray, size: int) -> None:
    """The guarantees every generator makes (module docstring)."""
    assert ks.dtype == np.float32 and ks.shape[-2:] == (size, size)
    assert (ks >= 0).all()
    np.testing.assert_allclose(ks.sum((-2, -1)), 1.0, atol=1e-5)
    ring = np.concatenate([ks[..., 0, :], ks[..., -1, :], ks[..., :, 0], ks[..., :, -1]], axis=-1)
    assert (ring == 0).all(), "mass on the outer ring: the path was not fitted inside the support"
    yy, xx = np.mgrid[:size, :size]
    c = size // 2
    np.testing.assert_allclose((ks * yy).sum((-2, -1)), c, atol=1e-3)  # centred by centroid
    np.testing.assert_allclose((ks * xx).sum((-2, -1)), c, atol=1e-3)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [33, 17])
def test_every_kind_meets_the_guarantees(kind, size):
    ks = random_kernels(24, size, rng=np.random.default_rng(0), kinds=(kind,))
    assert ks.shape == (24, size, size)
    _check_kernels(ks, size)


@pytest.mark.parametrize("kind", KINDS[:3])
def test_reproducible_per_seed_and_different_across_seeds(kind):
    a = random_kernels(6, 33, rng=np.random.default_rng(5), kinds=(kind,))
    b = random_kernels(6, 33, rng=np.random.default_rng(5), kinds=(kind,))
    c = random_kernels(6, 33, rng=np.random.default_rng(6), kinds=(kind,))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert len({k.tobytes() for k in a}) == 6  # the kernels of one call differ too


def test_camera_shake_single_kernel_and_parameters():
    k1 = camera_shake_kernel(33, rng=np.random.default_rng(1))
    k2 = camera_shake_kernel(33, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(k1, k2)
    _check_kernels(k1[None], 33)
    # a 1/1000 exposure covers 2 of 2000 samples (0.01 tap apart): essentially the centred delta
    short = camera_shake_kernel(33, rng=np.random.default_rng(1), exposure=0.001)
    assert short[16, 16] > 0.98 and short[15:18, 15:18].sum() == pytest.approx(1.0, abs=1e-6)
    # a path far longer than the support is shrunk to fit (outer ring empty), never clipped
    long = camera_shake_kernel(33, rng=np.random.default_rng(1), canvas=33, max_length=400, anxiety=0.0)
    _check_kernels(long[None], 33)
    assert (long > 0).any(0).sum() >= 25  # ... and still spans most of the support


def test_scalar_and_vectorised_trajectories_are_bit_identical():
    p = KernelParams(anxiety=0.05)  # frequent shakes exercise that branch too
    draws = kn._draw_shake([np.random.default_rng(i) for i in range(8)], p)
    assert draws.shake.any()
    a = kn._integrate_shake(draws, p, vectorised=False)
    b = kn._integrate_shake(draws, p, vectorised=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("length", [15, 9, 31])
def test_linear_kernel_at_angle_zero_is_one_row_of_length_taps(length):
    k = linear_kernel(length, 0.0, 33)
    _check_kernels(k[None], 33)
    rows = np.flatnonzero(k.sum(1) > 0)
    np.testing.assert_array_equal(rows, [16])  # all mass on the centre row
    cols = np.flatnonzero(k[16] > 1e-6)
    assert cols.size == length and cols[0] == 16 - (length - 1) // 2
    # uniform interior (box-filtered segment): every inner tap carries 1 / (length - 1)
    np.testing.assert_allclose(k[16, cols[1:-1]], 1 / (length - 1), rtol=1e-3)


def test_linear_kernel_conventions():
    np.testing.assert_array_equal(linear_kernel(1, 37.0, 33), delta_kernel(33))
    vertical = linear_kernel(11, 90.0, 33)
    np.testing.assert_array_equal(np.flatnonzero(vertical.sum(0) > 0), [16])
    np.testing.assert_allclose(linear_kernel(11, 180.0, 33), linear_kernel(11, 0.0, 33), atol=1e-7)
    # counter-clockwise angle in image coordinates (rows down): 45 deg goes up-right
    d = linear_kernel(21, 45.0, 33)
    assert d[:16, 17:].sum() > 0.45 and d[17:, 17:].sum() == 0 and d[:16, :16].sum() == 0
    with pytest.raises(ValueError, match="does not fit"):
        linear_kernel(40, 0.0, 33)
    with pytest.raises(ValueError, match="odd"):
        linear_kernel(5, 0.0, 32)


def test_object_kernel_accelerates_and_turns():
    k = object_kernel(25, 0.0, turn=0.0, accel=3.0, size=33)
    _check_kernels(k[None], 33)
    # moving +x while speeding up: samples uniform in time pile up at the slow start (left)
    cols = np.flatnonzero(k.sum(0) > 0)
    left, right = cols[: cols.size // 2], cols[cols.size // 2 + 1:]
    assert k[:, left].sum() > 1.5 * k[:, right].sum()
    straight = object_kernel(25, 0.0, turn=0.0, accel=0.0, size=33)
    np.testing.assert_allclose(straight, linear_kernel(25, 0.0, 33), atol=2e-3)
    curved = object_kernel(25, 0.0, turn=120.0, accel=0.0, size=33)
    assert (curved.sum(1) > 0).sum() > 3  # a turning path leaves the centre row


def test_bank_generate_is_independent_of_size_and_workers():
    params = {"num_samples": 200}  # short trajectories keep this fast; the logic is the same
    a = KernelBank.generate(1100, 17, seed=3, kinds=("camera_shake", "linear"), workers=2, **params)
    b = KernelBank.generate(40, 17, seed=3, kinds=("camera_shake", "linear"), **params)
    np.testing.assert_array_equal(a.kernels[:40], b.kernels)
    np.testing.assert_array_equal(a.kinds[:40], b.kinds)
    assert set(np.unique(a.kinds)) == {0, 1}
    _check_kernels(a.kernels, 17)
    c = KernelBank.generate(40, 17, seed=4, kinds=("camera_shake", "linear"), **params)
    assert not np.array_equal(b.kernels, c.kernels)


def test_bank_access_sample_and_mean():
    bank = KernelBank.generate(50, 17, seed=0, kinds=("linear",))
    assert len(bank) == 50 and bank.size == 17 and bank.kind_names == ("linear",)
    assert bank[3].shape == (17, 17) and bank[2:5].shape == (3, 17, 17)
    s1 = bank.sample(np.random.default_rng(9), 7)
    s2 = bank.sample(np.random.default_rng(9), 7)
    np.testing.assert_array_equal(s1, s2)
    idx = np.random.default_rng(9).integers(0, 50, size=7)
    np.testing.assert_array_equal(s1, bank.kernels[idx])  # order follows the draws
    mean = bank.mean_kernel()
    np.testing.assert_allclose(mean, bank.kernels.mean(0), atol=1e-7)
    assert abs(float(mean.sum()) - 1) < 1e-5


def test_bank_save_load_round_trip(tmp_path):
    bank = KernelBank.generate(30, 33, seed=7, kinds=("camera_shake", "object"), probs=(0.3, 0.7),
                               num_samples=300)
    path = bank.save(tmp_path / "sub" / "bank.safetensors")
    assert sorted(p.name for p in path.parent.iterdir()) == ["bank.safetensors"]  # no temp file left
    again = bank.save(tmp_path / "again.safetensors")
    assert again.read_bytes() == path.read_bytes()  # byte-reproducible (checksums, caches)
    for mmap in (False, True):
        back = KernelBank.load(path, mmap=mmap)
        np.testing.assert_array_equal(np.asarray(back.kernels), bank.kernels)
        np.testing.assert_array_equal(back.kinds, bank.kinds)
        assert back.metadata == bank.metadata
    meta = back.metadata
    assert meta["generator_version"] == GENERATOR_VERSION and meta["seed"] == "7" and meta["size"] == "33"
    assert KernelParams(**json.loads(meta["params"])).num_samples == 300
    # a memory-mapped bank pickles as its path (cheap for DataLoader workers) and reopens intact
    clone = pickle.loads(pickle.dumps(back))
    np.testing.assert_array_equal(clone[0:30], bank.kernels)
    assert len(pickle.dumps(back)) < 4096


def test_bank_load_errors_name_the_file(tmp_path):
    missing = tmp_path / "none.safetensors"
    with pytest.raises(FileNotFoundError, match="none.safetensors"):
        KernelBank.load(missing)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ValueError, match=r"corrupt\.safetensors: unreadable kernel bank") as err:
        KernelBank.load(corrupt)
    assert isinstance(err.value, KernelBankError) and "\n" not in str(err.value)
    good = KernelBank.generate(4, 17, kinds=("delta",)).save(tmp_path / "good.safetensors")
    truncated = tmp_path / "trunc.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(KernelBankError, match="trunc.safetensors"):
        KernelBank.load(truncated)
    from safetensors.numpy import save_file

    other = tmp_path / "other.safetensors"
    save_file({"weight": np.zeros((2, 2), np.float32)}, str(other))
    with pytest.raises(KernelBankError, match="other.safetensors: not a blurbench kernel bank"):
        KernelBank.load(other)


def test_argument_validation():
    with pytest.raises(ValueError, match="unknown kernel kind"):
        random_kernels(2, 33, rng=np.random.default_rng(0), kinds=("gaussian",))
    with pytest.raises(ValueError, match="exposures"):
        KernelParams(exposures=(0.0,))
    with pytest.raises(ValueError, match="odd"):
        KernelBank.generate(2, 34)
