"""The built-in val split: other photos, other seeds, same generators; test untouched."""

import json

import pytest

from blurbench.datamodules import builtin
from blurbench.datamodules.builtin_detection import BuiltinDetectionDataModule
from blurbench.datamodules.builtin_video import BuiltinVideoDataModule, clip_ids
from blurbench.datamodules.skimage_train import TRAIN_IMAGES
from blurbench.errors import DataError


def test_val_photos_are_neither_test_nor_training_photos():
    ids = builtin.split_ids("val")
    assert len(ids) >= 8 and len(set(ids)) == len(ids)
    bases = {i.rsplit("-", 1)[0] for i in ids}
    assert bases == set(builtin.VAL_PHOTOS)
    assert not bases & (set(builtin.PHOTOS) | set(TRAIN_IMAGES) | {"cat"})
    assert builtin.split_ids("test") == list(builtin.PHOTOS)


def test_val_crops_have_test_size_and_differ():
    crops = [load() for _, load in builtin.split_items("val")]
    assert all(c.dtype.name == "uint8" and c.shape[2] == 3 and max(c.shape[:2]) == builtin.LONG_SIDE for c in crops)
    # the two crops of one photo are different quadrants, not copies
    pairs = zip(crops[0::2], crops[1::2], strict=True)
    assert all(a.shape != b.shape or (a != b).any() for a, b in pairs)


def test_val_tree_is_separate_and_seeded_apart_from_test():
    test_dir = builtin.prepare("motion")
    val_dir = builtin.prepare("motion", split="val")
    assert test_dir == builtin.dataset_dir("motion") and test_dir.name == f"motion-v{builtin.BUILTIN_VERSION}"
    assert val_dir != test_dir
    test_m = json.loads((test_dir / "manifest.json").read_text())
    val_m = json.loads((val_dir / "manifest.json").read_text())
    assert "split" not in test_m and val_m["split"] == "val"
    assert val_m["version"] == builtin.SPLIT_VERSIONS["val"] and val_dir.name.endswith(f"-v{val_m['version']}")
    assert val_m["seed"] == test_m["seed"] + builtin.VAL_SEED_OFFSET
    assert builtin.verify("motion", "val") == []
    dm = builtin.BuiltinImageDataModule("motion", split="val")
    dm.setup("test")
    assert dm.split == "val" and len(dm.test_set) == len(builtin.split_ids("val"))
    s = dm.test_set[0]
    assert s["id"] == builtin.split_ids("val")[0] and s["kernels"].shape[-1] == builtin.KERNEL_SIZE
    assert (s["blurry"] - s["sharp"]).abs().mean() > 0.01  # really blurred


def test_other_builtin_kinds_have_val_splits():
    det = BuiltinDetectionDataModule(split="val")
    det.prepare_data()
    det.setup("test")
    assert [r.id for r in det.test_set.dataset.records] == builtin.split_ids("val")
    assert det.test_set[0]["mask"].sum() > 0
    assert clip_ids("val") == builtin.split_ids("val")[::2]
    assert set(clip_ids("val")).isdisjoint(clip_ids("test"))
    vid = BuiltinVideoDataModule(split="val")
    assert vid.split == "val"


def test_unknown_split_is_a_one_line_error():
    with pytest.raises(DataError, match="no split 'train'"):
        builtin.BuiltinImageDataModule("motion", split="train")
    with pytest.raises(DataError, match="no split"):
        builtin.prepare("motion", split="training")


def test_evaluate_split_val_scores_val_items(tmp_path):
    from blurbench.evaluation import default_out, evaluate

    entries = evaluate("builtin", ["identity"], ["motion"], tmp_path, limit=2, split="val", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {r["id"] for r in rows} == set(builtin.split_ids("val")[:2])
    assert entries[0]["split"] == "val"
    assert default_out("builtin", "val").name == "builtin-val" and default_out("builtin").name == "builtin"


def test_split_on_a_single_split_dataset_is_a_one_line_error(tmp_path):
    import numpy as np

    from blurbench.errors import ConfigError
    from blurbench.evaluation import evaluate
    from blurbench.io import write_image

    for d in ("blurry", "sharp"):
        write_image(tmp_path / "pairs" / d / "a.png", np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ConfigError, match="folder/pairs has no 'val' split"):
        evaluate("folder", ["identity"], None, tmp_path / "out", data_root=tmp_path / "pairs", split="val",
                 progress=False)
