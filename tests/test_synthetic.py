"""Regions, blur-field composition and the synthetic datamodule (ADE20K layout and plain folders)."""

import json
import os

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from blurbench.datamodules.synthetic import (
    SyntheticBlurDataModule,
    SyntheticBlurDataset,
    SyntheticDataError,
    find_items,
)
from blurbench.ops.kernels import KernelBank, delta_kernel, linear_kernel
from blurbench.ops.reblur import reblur_reference
from blurbench.ops.regions import (
    BlurField,
    loss_weights,
    random_regions,
    sample_blur_field,
    segments_from_label_map,
)

K = 33


def _linear_bank(size: int = K) -> KernelBank:
    """Long linear kernels: every segment edge gets a wide, certain transition."""
    ks = np.stack([linear_kernel(size - 4, a, size) for a in (0.0, 30.0, 60.0, 90.0, 120.0, 150.0)])
    return KernelBank(ks, np.zeros(len(ks), np.uint8), {"kinds": json.dumps(["linear"])})


# --------------------------------------------------------------------------------------------- regions
def test_random_regions_are_disjoint_large_and_reproducible():
    regions = random_regions(200, 160, 3, np.random.default_rng(0), min_area=400)
    assert len(regions) == 3
    for r in regions:
        assert r.dtype == bool and r.shape == (200, 160) and r.sum() >= 400
    assert (np.sum(regions, axis=0) <= 1).all()
    again = random_regions(200, 160, 3, np.random.default_rng(0), min_area=400)
    assert all(np.array_equal(a, b) for a, b in zip(regions, again))
    other = random_regions(200, 160, 3, np.random.default_rng(1), min_area=400)
    assert not all(np.array_equal(a, b) for a, b in zip(regions, other))
    assert random_regions(15, 15, 2, np.random.default_rng(0), min_area=400) == []  # cannot hold one


def test_segments_from_label_map():
    labels = np.zeros((120, 150), np.uint8)  # 0 = ADE20K "unlabelled": never a segment
    labels[5:35, 5:45] = 4  # class 4, component A: 1200 px
    labels[60:110, 80:140] = 4  # class 4, component B (disconnected): 3000 px
    labels[50:60, 10:20] = 9  # class 9: 100 px, too small
    labels[70:100, 10:40] = 2  # class 2: 900 px
    segs = segments_from_label_map(labels, max_segments=5, min_area=400)
    assert [int(s.sum()) for s in segs] == [3000, 1200, 900]  # no rng: largest first
    assert (np.sum(segs, axis=0) <= 1).all()
    picked = segments_from_label_map(labels, max_segments=2, min_area=400, rng=np.random.default_rng(0))
    assert len(picked) == 2 and all(s.sum() >= 400 for s in picked)
    assert segments_from_label_map(labels, max_segments=3, min_area=5000) == []


# ------------------------------------------------------------------------------------------ blur field
def _soft(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Independent reference: replicate-pad then F.conv2d (cross-correlation), clipped to [0, 1]."""
    r = kernel.shape[-1] // 2
    m = F.pad(torch.from_numpy(mask.astype(np.float32))[None, None], (r, r, r, r), mode="replicate")
    return F.conv2d(m.double(), torch.from_numpy(kernel).double()[None, None])[0, 0].clamp(0, 1).numpy()


def test_field_is_alpha_over_of_soft_masks_and_sums_to_one():
    h, w = 96, 128
    a = np.zeros((h, w), bool)
    a[20:60, 20:70] = True
    b = np.zeros((h, w), bool)
    b[40:90, 60:120] = True
    field = sample_blur_field(h, w, rng=np.random.default_rng(3), segmentation=[a, b], bank=_linear_bank(),
                              num_kernels=5)
    assert isinstance(field, BlurField) and field.num_active == 3
    assert field.kernels.shape == (5, K, K) and field.mixing.shape == (5, h, w)
    assert field.weights.shape == (h, w) and field.segments.shape == (2, h, w)
    assert field.kernels.dtype == field.mixing.dtype == field.weights.dtype == np.float32
    np.testing.assert_allclose(field.mixing.sum(0), 1.0, atol=1e-5)
    assert field.mixing.min() >= 0 and field.mixing.max() <= 1
    # padding: centred deltas with zero mixing
    np.testing.assert_array_equal(field.kernels[3:], np.stack([delta_kernel(K)] * 2))
    assert (field.mixing[3:] == 0).all()
    # exact compositing: each mask correlated with ITS kernel, later segments in front
    s1, s2 = _soft(a, field.kernels[1]), _soft(b, field.kernels[2])
    np.testing.assert_allclose(field.mixing[2], s2, atol=1e-5)
    np.testing.assert_allclose(field.mixing[1], s1 * (1 - s2), atol=1e-5)
    np.testing.assert_allclose(field.mixing[0], (1 - s1) * (1 - s2), atol=1e-5)
    # soft transitions: the edges are not binary
    edge = field.mixing[1][np.ix_(range(25, 55), range(5, 35))]
    assert ((edge > 0.05) & (edge < 0.95)).mean() > 0.1


def test_field_weights_follow_the_authors_definition():
    field = sample_blur_field(128, 128, rng=np.random.default_rng(0), min_segments=3, bank=_linear_bank())
    m = torch.from_numpy(field.mixing)[None].double()  # [N, B, H, W] as in their training loop
    sums = m.sum(3).sum(2)
    areas = (m * sums[:, :, None, None]).sum(1)
    roi = torch.max(m > 0.95, 1).values.double()
    expected = (1.0 / (areas + 1) * roi)[0].numpy()
    np.testing.assert_allclose(field.weights, expected, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(loss_weights(field.mixing), field.weights)
    assert (field.weights[~(field.mixing > 0.95).any(0)] == 0).all()
    # every map contributes at most ~1 in total, whatever its area
    for b in range(field.num_active):
        assert field.weights[field.mixing[b] > 0.95].sum() <= 1.0 + 1e-6


def test_field_from_label_map_and_random_regions():
    labels = np.zeros((160 + K - 1, 160 + K - 1), np.int32)
    labels[20:90, 20:110] = 5
    labels[110:180, 60:170] = 8
    for seg in (labels, None):
        for seed in range(4):
            f = sample_blur_field(160, 160, rng=np.random.default_rng(seed), segmentation=seg, min_segments=1,
                                  num_kernels=4, min_segment_area=400)
            assert 1 <= f.segments.shape[0] <= 3 and f.segments.shape[1:] == (160, 160)
            assert all(s.sum() >= 400 for s in f.segments)
            np.testing.assert_allclose(f.mixing.sum(0), 1.0, atol=1e-5)
    # labels at the 'valid' sharp size are centre-cropped to the output grid: same field as pre-cropped
    r = K // 2
    f1 = sample_blur_field(160, 160, rng=np.random.default_rng(1), segmentation=labels)
    f2 = sample_blur_field(160, 160, rng=np.random.default_rng(1), segmentation=labels[r:-r, r:-r])
    np.testing.assert_array_equal(f1.mixing, f2.mixing)
    np.testing.assert_array_equal(f1.kernels, f2.kernels)
    # a single 2-D bool mask is one segment
    one = sample_blur_field(160, 160, rng=np.random.default_rng(0), segmentation=labels[r:-r, r:-r] == 5)
    assert one.num_active == 2 and one.segments[0].sum() == 70 * 90
    # all-unlabelled maps give a uniform blur
    f3 = sample_blur_field(64, 64, rng=np.random.default_rng(0), segmentation=np.zeros((64, 64), np.uint8))
    assert f3.num_active == 1 and (f3.mixing == 1).all()


def test_field_is_reproducible_and_validates_arguments():
    f1 = sample_blur_field(64, 80, rng=np.random.default_rng(11), kernel_size=17, num_kernels=4)
    f2 = sample_blur_field(64, 80, rng=np.random.default_rng(11), kernel_size=17, num_kernels=4)
    for name in ("kernels", "mixing", "weights", "segments"):
        np.testing.assert_array_equal(getattr(f1, name), getattr(f2, name))
    with pytest.raises(ValueError, match="num_kernels=2"):
        sample_blur_field(64, 64, rng=np.random.default_rng(0), num_kernels=2, max_segments=3)
    with pytest.raises(ValueError, match="matches neither"):
        sample_blur_field(64, 64, rng=np.random.default_rng(0), segmentation=np.zeros((50, 50), np.int32))
    with pytest.raises(ValueError, match="kernel bank holds"):
        sample_blur_field(64, 64, rng=np.random.default_rng(0), bank=_linear_bank(), kernel_size=17)


def test_sharp_regions_and_object_segments():
    """sharp_prob leaves whole regions sharp (delta kernels) and segment_kinds gives segments their own kinds,
    while the default settings draw nothing extra (the built-in benchmark's fields must not change)."""
    base = sample_blur_field(64, 80, rng=np.random.default_rng(3), kernel_size=17, max_segments=3, min_segments=2)
    again = sample_blur_field(64, 80, rng=np.random.default_rng(3), kernel_size=17, max_segments=3, min_segments=2,
                              sharp_prob=0.0, segment_kinds=None)
    np.testing.assert_array_equal(base.kernels, again.kernels)
    bank = _linear_bank()
    delta = delta_kernel(K)
    in_bank = lambda k: any(np.array_equal(k, b) for b in bank.kernels)  # noqa: E731
    sharp_seen = blurred_seen = 0
    for seed in range(30):
        f = sample_blur_field(64, 80, rng=np.random.default_rng(seed), kernel_size=K, max_segments=3,
                              min_segments=1, bank=bank, sharp_prob=0.5, segment_kinds=("object",))
        n_active = 1 + len(f.segments)
        is_delta = [np.array_equal(k, delta) for k in f.kernels[:n_active]]
        sharp_seen += sum(is_delta)
        blurred_seen += n_active - sum(is_delta)
        assert is_delta[0] or in_bank(f.kernels[0])  # the background still comes from the bank
        assert all(d or not in_bank(k) for k, d in zip(f.kernels[1:n_active], is_delta[1:], strict=True))
        np.testing.assert_allclose(f.mixing.sum(0), 1.0, atol=1e-5)
    assert 0.3 < sharp_seen / (sharp_seen + blurred_seen) < 0.7  # about half the regions, both kinds present
    with pytest.raises(ValueError, match="sharp_prob"):
        sample_blur_field(64, 64, rng=np.random.default_rng(0), sharp_prob=1.5)


# ------------------------------------------------------------------------------------------ datamodule
def _texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    img = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (0, 0), 2)


@pytest.fixture()
def ade_root(tmp_path):
    """A tiny ADEChallengeData2016-style tree: 3 training + 2 validation images with label PNGs."""
    rng = np.random.default_rng(0)
    for split, n in (("training", 3), ("validation", 2)):
        (tmp_path / "images" / split).mkdir(parents=True)
        (tmp_path / "annotations" / split).mkdir(parents=True)
        for i in range(n):
            h, w = 110 + 7 * i, 130
            cv2.imwrite(str(tmp_path / "images" / split / f"ADE_{split}_{i:08d}.jpg"), _texture(h, w, rng))
            lab = np.zeros((h, w), np.uint8)
            lab[:, : w // 2] = 12
            lab[30:90, 70:125] = 3
            cv2.imwrite(str(tmp_path / "annotations" / split / f"ADE_{split}_{i:08d}.png"), lab)
    return tmp_path


SMALL = {"crop_size": 48, "eval_crop_size": 48, "kernel_size": 17, "min_segment_area": 200, "batch_size": 2}


def test_ade_layout_shapes_ids_and_forward_model(ade_root):
    dm = SyntheticBlurDataModule(ade_root, **SMALL)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.datasets["train"]) == 3 and len(dm.datasets["val"]) == 2
    assert all(it.labels is not None for it in dm.datasets["train"].items)
    batch = next(iter(dm.train_dataloader()))
    assert batch["sharp"].shape == (2, 3, 64, 64) and batch["blurry"].shape == (2, 3, 48, 48)
    assert batch["kernels"].shape == (2, 4, 17, 17) and batch["mixing"].shape == (2, 4, 48, 48)
    assert batch["weights"].shape == (2, 48, 48)
    assert all(t.dtype == torch.float32 for k, t in batch.items() if k != "id")
    assert all(i.startswith("images/training/ADE_training_") and i.endswith(".jpg") for i in batch["id"])
    for key in ("sharp", "blurry", "mixing"):
        assert 0 <= batch[key].min() and batch[key].max() <= 1
    torch.testing.assert_close(batch["mixing"].sum(1), torch.ones(2, 48, 48), atol=1e-5, rtol=0)
    ref = reblur_reference(batch["sharp"], batch["kernels"], batch["mixing"], "valid")
    torch.testing.assert_close(batch["blurry"], ref.clamp(0, 1), atol=1e-5, rtol=0)
    # segments come from the label map: somewhere a segment kernel dominates
    assert (batch["mixing"][:, 1:] > 0.95).any()


def test_val_is_deterministic_and_train_is_not(ade_root):
    a = SyntheticBlurDataModule(ade_root, **SMALL)
    b = SyntheticBlurDataModule(ade_root, **SMALL)
    a.setup("validate")
    b.setup("validate")
    va, vb = a.datasets["val"][1], b.datasets["val"][1]
    assert va["id"] == vb["id"] == "images/validation/ADE_validation_00000001.jpg"
    for key in ("sharp", "blurry", "kernels", "mixing", "weights"):
        torch.testing.assert_close(va[key], vb[key], atol=0, rtol=0)
    a.setup("fit")
    t1, t2 = a.datasets["train"][0], a.datasets["train"][0]
    assert not torch.equal(t1["blurry"], t2["blurry"])  # a fresh crop/field every read
    # seeded through torch: the same global seed replays the same train samples
    torch.manual_seed(123)
    r1 = a.datasets["train"][0]
    torch.manual_seed(123)
    r2 = a.datasets["train"][0]
    torch.testing.assert_close(r1["blurry"], r2["blurry"], atol=0, rtol=0)
    # test = ADE20K validation split (its test release has no labels)
    a.setup("test")
    assert [it.id for it in a.datasets["test"].items] == [it.id for it in a.datasets["val"].items]


def test_worker_streams_differ_across_workers_and_epochs(ade_root):
    dm = SyntheticBlurDataModule(ade_root, **{**SMALL, "batch_size": 1}, num_workers=2,
                                 samples_per_epoch=4)
    dm.setup("fit")
    loader = dm.train_dataloader()
    torch.manual_seed(0)
    epoch1 = [b["blurry"] for b in loader]
    epoch2 = [b["blurry"] for b in loader]
    assert len(epoch1) == 4
    flat = [x.flatten() for x in epoch1 + epoch2]
    assert len({tuple(x[:50].tolist()) for x in flat}) == len(flat)


def test_ddp_ranks_share_samples_per_epoch_and_draw_their_own_fields(ade_root):
    from lightning.fabric.utilities.distributed import DistributedSamplerWrapper
    from torch.utils.data import RandomSampler

    dm = SyntheticBlurDataModule(ade_root, **{**SMALL, "batch_size": 1}, samples_per_epoch=6)
    dm.setup("fit")
    sampler = dm.train_dataloader().sampler
    # Lightning replaces a RandomSampler under DDP (by one pass over the images) but wraps any other sampler
    assert not isinstance(sampler, RandomSampler) and len(sampler) == 6
    shards = [list(DistributedSamplerWrapper(sampler, num_replicas=2, rank=r)) for r in (0, 1)]
    assert [len(s) for s in shards] == [3, 3]  # the epoch's draws split between the ranks
    ds = dm.datasets["train"]
    reads = []
    for rank in (0, 1):  # same torch seed, same index: another rank draws another crop and field
        ds.rank = rank
        torch.manual_seed(5)
        reads.append(ds[0]["blurry"])
    assert not torch.equal(reads[0], reads[1])


def test_plain_folder_split_full_frame_gamma_and_noise(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "sub").mkdir()
    for i in range(5):
        cv2.imwrite(str(tmp_path / ("sub" if i % 2 else "") / f"img{i}.png"), _texture(70 + i, 90, rng))
    train = find_items(tmp_path, "train", val_fraction=0.4)
    val = find_items(tmp_path, "val", val_fraction=0.4)
    assert len(train) == 3 and len(val) == 2 and not {i.id for i in train} & {i.id for i in val}
    assert {i.id for i in train + val} == {"img0.png", "sub/img1.png", "img2.png", "sub/img3.png", "img4.png"}
    assert all(i.labels is None for i in train)

    full = SyntheticBlurDataset(val, train=False, crop_size=None, kernel_size=17, min_segment_area=100)
    s = full[0]
    h, w = cv2.imread(str(val[0].image)).shape[:2]
    assert s["sharp"].shape == (3, h, w) and s["blurry"].shape == (3, h - 16, w - 16)
    assert s["mixing"].shape == (4, h - 16, w - 16)

    gamma = SyntheticBlurDataset(val, train=False, crop_size=40, kernel_size=17, gamma=2.2)
    g = gamma[0]
    lin = reblur_reference(g["sharp"][None] ** 2.2, g["kernels"][None], g["mixing"][None], "valid")[0]
    torch.testing.assert_close(g["blurry"] ** 2.2, lin.clamp(0, 1), atol=1e-5, rtol=0)

    noisy = SyntheticBlurDataset(val, train=False, crop_size=40, kernel_size=17, noise_sigma=0.05)
    clean = SyntheticBlurDataset(val, train=False, crop_size=40, kernel_size=17)
    n, c = noisy[0], clean[0]
    torch.testing.assert_close(n["mixing"], c["mixing"])  # noise is drawn after the field
    diff = n["blurry"] - c["blurry"]
    assert 0.03 < float(diff.std()) < 0.07 and 0 <= n["blurry"].min() and n["blurry"].max() <= 1


def test_small_images_are_upscaled_to_the_crop(tmp_path):
    cv2.imwrite(str(tmp_path / "tiny.png"), _texture(30, 50, np.random.default_rng(0)))
    ds = SyntheticBlurDataset(find_items(tmp_path, "train"), train=True, crop_size=48, kernel_size=17,
                              min_segment_area=100)
    s = ds[0]
    assert s["sharp"].shape == (3, 64, 64) and s["blurry"].shape == (3, 48, 48)


def test_kernel_bank_file_is_generated_once_then_reused(ade_root, tmp_path):
    path = tmp_path / "banks" / "k17.safetensors"
    dm = SyntheticBlurDataModule(ade_root, **SMALL, kernel_bank=path, bank_size=64)
    dm.prepare_data()
    assert path.is_file()
    stamp = os.stat(path).st_mtime_ns
    dm.setup("fit")
    bank = dm.datasets["train"].bank
    assert len(bank) == 64 and bank.size == 17
    sample = dm.datasets["val"][0]
    assert any(np.array_equal(sample["kernels"][0].numpy(), k) for k in bank[0:64])
    again = SyntheticBlurDataModule(ade_root, **SMALL, kernel_bank=path, bank_size=999)
    again.prepare_data()
    again.setup("fit")
    assert os.stat(path).st_mtime_ns == stamp and len(again.datasets["train"].bank) == 64
    wrong = SyntheticBlurDataModule(ade_root, **{**SMALL, "kernel_size": 33}, kernel_bank=path)
    with pytest.raises(ValueError, match="k17.safetensors: holds 17x17 kernels"):
        wrong.setup("fit")


def test_clear_errors(tmp_path, ade_root):
    with pytest.raises(FileNotFoundError, match="nowhere: image folder not found"):
        SyntheticBlurDataModule(tmp_path / "nowhere", **SMALL).prepare_data()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: no images"):
        SyntheticBlurDataModule(tmp_path / "empty", **SMALL).setup("fit")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.jpg").write_bytes(b"not a jpeg")
    ds = SyntheticBlurDataset(find_items(bad, "train"), train=True, crop_size=48, kernel_size=17)
    with pytest.raises(SyntheticDataError, match="broken.jpg: unreadable image") as err:
        ds[0]
    assert "\n" not in str(err.value)
    victim = next((ade_root / "annotations" / "training").glob("*.png"))
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=f"{victim.name}: label map of .* not found"):
        SyntheticBlurDataModule(ade_root, **SMALL).setup("fit")
    items = find_items(ade_root, "train", use_annotations=False)  # the documented way out
    assert len(items) == 3 and all(i.labels is None for i in items)
