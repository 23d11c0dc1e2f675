import json

import numpy as np
import pytest
import torch

from blurbench.datamodules import builtin
from blurbench.errors import DataError
from blurbench.io import sha256_file
from blurbench.ops.reblur import reblur


@pytest.fixture(scope="module")
def motion_dir():
    return builtin.prepare("motion")


def test_manifest_covers_every_file(motion_dir):
    manifest = json.loads((motion_dir / "manifest.json").read_text())
    assert manifest["version"] == builtin.BUILTIN_VERSION
    assert len(manifest["files"]) == 3 * len(builtin.PHOTOS)
    for rel, digest in manifest["files"].items():
        assert sha256_file(motion_dir / rel) == digest
    assert builtin.verify("motion") == []


def test_generation_is_deterministic(motion_dir, tmp_path):
    files = builtin._generate_image_pairs(tmp_path, builtin.builtin_datasets()["motion"].seed, noise_sigma=0.0)
    manifest = json.loads((motion_dir / "manifest.json").read_text())["files"]
    assert {rel: sha256_file(tmp_path / rel) for rel in files} == manifest


def test_pairs_follow_the_forward_model(motion_dir):
    dm = builtin.BuiltinImageDataModule("motion")
    dm.setup("test")
    sample = dm.test_set[0]
    assert sample["id"] == builtin.PHOTOS[0]
    sharp, blurry = sample["sharp"], sample["blurry"]
    kernels, mixing = sample["kernels"], sample["mixing"]
    assert kernels.shape[-1] <= 33 and kernels.shape[0] >= 2, "several motion regions per image"
    assert torch.allclose(mixing.sum(0), torch.ones_like(mixing[0]), atol=1e-5)
    assert torch.allclose(kernels.sum((-1, -2)), torch.ones(kernels.shape[0]), atol=1e-4)
    # sharp/blurry are 8-bit files: the re-blurred sharp image matches the blurry one to rounding error
    rebuilt = reblur(sharp[None], kernels[None], mixing[None])[0]
    assert (rebuilt - blurry).abs().max().item() < 2.5 / 255
    # and the blur is real: the blurry image is far from the sharp one
    assert (sharp - blurry).abs().mean().item() > 0.01


def test_noisy_dataset_has_noise():
    builtin.prepare("motion-noisy")
    dm = builtin.BuiltinImageDataModule("motion-noisy")
    dm.setup("test")
    s = dm.test_set[1]
    residual = s["blurry"] - reblur(s["sharp"][None], s["kernels"][None], s["mixing"][None])[0]
    assert 0.007 < residual.std().item() < 0.013


def test_corrupt_and_partial_caches_are_detected_and_regenerated(motion_dir):
    target = motion_dir / builtin.PHOTOS[2] / "blurry.png"
    good = target.read_bytes()
    target.write_bytes(good[: len(good) // 2])
    assert any("checksum mismatch" in p for p in builtin.verify("motion"))
    with pytest.warns(UserWarning, match="regenerating"):
        builtin.prepare("motion")
    assert target.read_bytes() == good
    (motion_dir / builtin.PHOTOS[3] / "sharp.png").unlink()
    assert any("missing" in p for p in builtin.verify("motion"))
    with pytest.warns(UserWarning, match="regenerating"):
        builtin.prepare("motion")
    assert builtin.verify("motion") == []


def test_incomplete_tree_fails_clearly_before_work(motion_dir):
    dm = builtin.BuiltinImageDataModule("motion")
    path = motion_dir / builtin.PHOTOS[0] / "field.safetensors"
    data = path.read_bytes()
    path.unlink()
    try:
        with pytest.raises(DataError, match="field.safetensors: missing"):
            dm.setup("test")
    finally:
        path.write_bytes(data)


def test_photos_are_real_and_varied():
    sizes = {builtin.load_photo(p).shape for p in builtin.PHOTOS}
    assert len(sizes) >= 3 and all(max(s[:2]) == builtin.LONG_SIDE for s in sizes)
    assert all(builtin.load_photo(p).dtype == np.uint8 for p in builtin.PHOTOS[:2])


def test_building_is_announced_once_with_where(motion_dir, capsys, monkeypatch):
    monkeypatch.setattr(builtin, "_announced", False)  # as in a fresh process
    builtin.prepare("motion")  # intact cache: nothing to build, nothing said
    assert capsys.readouterr().err == ""
    (motion_dir / builtin.PHOTOS[1] / "sharp.png").unlink()
    with pytest.warns(UserWarning, match="regenerating"):
        builtin.prepare("motion")
    builtin.prepare("motion-noisy")  # whether built now or cached: no second line in the same process
    err = capsys.readouterr().err.splitlines()
    assert err == [f"blurbench: building the built-in data in {motion_dir.parent} (first run only: it is cached "
                   "there)"]
