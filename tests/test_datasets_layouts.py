"""Every on-disk dataset: official layout -> correctly paired samples with stable ids; check() finds damage."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from blurbench.cli import main
from blurbench.datamodules.catalog import get_checker
from blurbench.errors import ConfigError, DataError

from . import dataset_trees as trees

# name, builder, expected number of test items in the tiny tree, has GT pairs, damage modes it supports
CASES = [
    ("gopro", trees.gopro, 5, True, ("missing", "unreadable", "size")),
    ("gopro-gamma", trees.gopro_gamma, 5, True, ("missing", "unreadable", "size")),
    ("dvd", trees.dvd, 3, True, ("missing", "unreadable", "size")),
    ("realblur-j", trees.realblur, 3, True, ("missing", "unreadable", "size")),
    ("realblur-j-tele", trees.realblur_tele, 5, True, ("missing", "unreadable", "size")),
    ("realblur-r-tele", trees.realblur_tele_r, 5, True, ("missing", "unreadable", "size")),
    ("bsd-b", trees.bsdb, 3, True, ("missing", "unreadable", "size")),
    ("kohler", trees.kohler, 48, False, ("missing", "unreadable", "size")),
    ("lai-uniform", trees.lai, 4, True, ("missing", "unreadable", "size")),
    ("lai-nonuniform", trees.lai_nonuniform, 4, True, ("missing", "unreadable", "size")),
    ("levin", trees.levin, 4, True, ("unreadable", "size")),
    ("reds4", trees.reds, 6, True, ("missing", "unreadable", "size")),
    ("hide", trees.hide, 3, True, ("missing", "unreadable", "size")),
    ("sintel-final", trees.sintel, 3, True, ("missing", "unreadable", "size")),
    ("ade20k", trees.ade20k, 2, False, ("missing", "unreadable", "size")),
    ("bsd500", trees.bsd500, 2, False, ("unreadable",)),
    ("hfr", trees.hfr, 3, True, ("unreadable", "size")),
]


def _dm(name, root, **kw):
    return get_checker(name).factory(root, allow_subset=True, **kw)


@pytest.mark.parametrize("name, build, count, paired, _", CASES, ids=[c[0] for c in CASES])
def test_layout_pairs_and_stable_ids(tmp_path, name, build, count, paired, _):
    tree = build(tmp_path / "a")
    dm = _dm(name, tmp_path / "a")  # the root above the archive's top folder is accepted too
    assert dm.check() == []
    counts, problems = dm.check_all()
    assert problems == [], problems
    ds = dm.build_test_dataset()
    ids = [r.id for r in ds.records]
    assert len(ids) == count and len(set(ids)) == count
    assert tree.sample_id in ids
    assert all(not i.startswith("/") and str(tmp_path) not in i for i in ids)
    # same ids, same order on another machine (another absolute path)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert [r.id for r in _dm(name, tmp_path / "b").build_test_dataset().records] == ids
    sample = ds[ids.index(tree.sample_id)]
    assert sample["id"] == tree.sample_id
    assert sample["blurry"].ndim == 3 and sample["blurry"].shape[0] == 3
    if paired and name != "levin":
        assert sample["sharp"].shape == sample["blurry"].shape
        assert trees.read_tag(sample["blurry"]) == trees.read_tag(sample["sharp"])  # the right partner


@pytest.mark.parametrize("mode", ["missing", "unreadable", "size"])
@pytest.mark.parametrize("name, build, count, paired, modes", CASES, ids=[c[0] for c in CASES])
def test_check_reports_damage_in_one_line(tmp_path, name, build, count, paired, modes, mode):
    if mode not in modes:
        pytest.skip(f"{name}: a lone file has no partner to miss or mismatch (count check covers it)")
    tree = build(tmp_path)
    target = tree.blurry if mode != "size" else tree.sharp
    if mode == "missing":
        target = tree.extra.get("missing", target)  # lone files: delete their partner (a GT or label map)
    if mode == "missing":
        target.unlink()
    elif mode == "unreadable":
        target.write_bytes(b"\x89PNG\r\n\x1a\n garbage" if target.suffix != ".mat" else b"MATLAB 5.0 garbage")
    elif target.suffix == ".mat":
        from scipy.io import savemat

        savemat(str(target), {"x": np.zeros((16, 16)), "y": np.zeros((20, 16)), "f": np.ones((3, 3)) / 9})
    else:
        img = np.zeros((20, 24, 3), np.uint8) if target.suffix != ".png" or "annotations" not in str(target) \
            else np.zeros((20, 24), np.uint8)
        assert cv2.imwrite(str(target), img)
    dm = _dm(name, tmp_path)
    problems = dm.check()
    lines = [p for p in problems if str(target) in p]
    assert len(lines) == 1, problems
    word = {"missing": "missing", "unreadable": "unreadable", "size": "size"}[mode]
    assert word in lines[0] and "\n" not in lines[0]
    with pytest.raises(DataError):
        dm.setup("test")  # refuses before any work starts


def test_official_counts_enforced_unless_subset(tmp_path):
    trees.gopro(tmp_path)
    dm = get_checker("gopro").factory(tmp_path, allow_subset=False)
    problems = dm.check()
    assert problems == [f"{tmp_path / 'GOPRO_Large'}: split 'test' has 5 items, official count is 1111"]
    sub = get_checker("gopro").factory(tmp_path, allow_subset=True)
    assert sub.check() == [] and sub.split == "test (subset 5/1111)"


def test_realblur_follows_list_order_and_scores_with_ecc(tmp_path):
    tree = trees.realblur(tmp_path, size=(48, 48))
    dm = _dm("realblur-j", tmp_path)
    ids = [r.id for r in dm.build_test_dataset().records]
    assert [i.rsplit("_", 1)[1][:-4] for i in ids] == tree.extra["order"]
    assert dm.protocol.startswith("realblur-ecc")
    sample = dm.build_test_dataset()[0]
    rows = dm.score(sample["sharp"][None], {k: (v[None] if hasattr(v, "shape") else [v]) for k, v in sample.items()})
    assert rows[0]["psnr"] == 100.0 and rows[0]["ssim"] == pytest.approx(1.0)
    (tmp_path / "RealBlur" / "RealBlur_J_test_list.txt").unlink()
    assert any("official list file missing" in p for p in _dm("realblur-j", tmp_path).check())


def test_lai_sets_with_the_authors_names_need_only_what_they_read(tmp_path, capsys):
    # the complete synthetic sets, named as in the authors' list files, and no real_dataset/
    trees.lai(tmp_path, images=trees.LAI_GROUND_TRUTH, kernels=trees.LAI_KERNELS, gyros=trees.LAI_GYROS, real=False)
    for name, split in (("lai-uniform", "uniform"), ("lai-nonuniform", "nonuniform")):
        assert main(["data", "check", name, "--root", str(tmp_path)]) == 0  # strict: official counts too
        out = capsys.readouterr().out
        assert out.splitlines() == [f"{split}: 100 items (official 100)", f"{name}: complete"]
    dm = get_checker("lai-nonuniform").factory(tmp_path, allow_subset=False)
    recs = dm.build_test_dataset().records
    expected = {f"{g}_{t}": g for g in trees.LAI_GROUND_TRUTH for t in trees.LAI_GYROS}
    assert {r.id for r in recs} == {f"synthetic_dataset/nonuniform/{n}.png" for n in expected}
    assert all(r.sharp.name == f"{expected[r.blurry.stem]}.png" for r in recs)
    # the whole benchmark does read the real set: its check names the missing folder, in one line
    assert main(["data", "check", "lai", "--root", str(tmp_path)]) == 2
    problems = [line for line in capsys.readouterr().out.splitlines() if line.startswith("problem:")]
    assert problems == [f"problem: {tmp_path / 'Benchmark' / 'real_dataset'}: not found"]


def test_lai_nonuniform_first_list_names_and_script_output(tmp_path):
    trees.lai(tmp_path / "a", gyros=trees.LAI_GYROS_2016)
    ids = [r.id for r in _dm("lai-nonuniform", tmp_path / "a").build_test_dataset().records]
    assert ids == [f"synthetic_dataset/nonuniform/{g}_{t}.png" for g in ("manmade_01", "text_05")
                   for t in trees.LAI_GYROS_2016]
    trees.lai(tmp_path / "b", nonuniform_dir="output/nonuniform")  # where run_synthesize_nonuniform.m writes
    dm = _dm("lai-nonuniform", tmp_path / "b")
    assert dm.check() == [] and [r.id for r in dm.build_test_dataset().records][0] == \
        "output/nonuniform/manmade_01_gyro_01.png"
    with pytest.raises(ConfigError, match="unknown Lai set"):
        get_checker("lai").factory(tmp_path / "a", sets=("blurry",))


R_TELE_SPELLINGS = [  # the authors' list name, then what their post-processing script writes, then the other mixes
    "RealBlur-R-Tele_BM3D_ECC_IMCORR_centroid_itensity_ref",
    "ReaBlur-R-Tele_ECC_IMCORR_centroid_itensity_ref",
    "ReaBlur-R-Tele/ReaBlur-R-Tele_ECC_IMCORR_centroid_itensity_ref",
    "RealBlur-R-Tele_ECC_IMCORR_centroid_itensity_ref",
    "ReaBlur-R-Tele_BM3D_ECC_IMCORR_centroid_itensity_ref",
]


@pytest.mark.parametrize("lists", [False, True], ids=["scan", "list"])
@pytest.mark.parametrize("folder", R_TELE_SPELLINGS)
def test_realblur_tele_reads_every_spelling_with_the_lists_ids(tmp_path, folder, lists):
    trees.realblur_tele(tmp_path, folders={"R": folder}, lists=lists)
    dm = _dm("realblur-r-tele", tmp_path)
    assert dm.check() == []
    ds = dm.build_test_dataset()
    canonical = trees.TELE_FOLDERS["R"]
    expected = [f"{canonical}/{scene}/blur/blur_{i}.png" for scene, i in trees.TELE_PAIRS]
    assert [r.id for r in ds.records] == (expected if lists else sorted(expected, key=_scene_index))
    assert all(str(r.blurry).startswith(str(tmp_path / "RealBlur-Tele" / folder)) for r in ds.records)
    s = ds[0]
    assert trees.read_tag(s["blurry"]) == trees.read_tag(s["sharp"])


def _scene_index(sample_id: str) -> tuple[str, int]:
    parts = sample_id.split("/")
    return parts[1], int(parts[3][len("blur_"):-len(".png")])


def test_realblur_tele_official_count_and_listed_missing_pair(tmp_path, capsys):
    tree = trees.realblur_tele(tmp_path, lists=True)
    strict = get_checker("realblur-j-tele").factory(tmp_path, allow_subset=False)
    assert strict.check() == [f"{tree.root}: split 'test' has 5 items, official count is 996"]
    assert main(["data", "check", "realblur-tele", "--root", str(tmp_path), "--allow-subset"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["J/test: 5 items (official 996)", "R/test: 5 items (official 996)", "realblur-tele: complete"]
    tree.blurry.unlink()  # a pair of the list: named, even though the folder no longer holds it
    assert _dm("realblur-j-tele", tmp_path).check() == [f"{tree.blurry}: missing"]
    # the 16-bit outputs of the authors' scripts are not the benchmark
    j = tree.root / trees.TELE_FOLDERS["J"]
    j.rename(j.with_name(j.name + "_unit16"))
    problems = _dm("realblur-j-tele", tmp_path).check()
    assert len(problems) == 1 and problems[0].startswith(f"{j}: not found")


def test_kohler_scores_best_frame(tmp_path):
    import torch

    trees.kohler(tmp_path, frames=3)
    dm = _dm("kohler", tmp_path)
    ds = dm.build_test_dataset()
    sample = ds[0]
    assert len(sample["frames"]) == 3 and "sharp" not in sample
    from blurbench.io import read_image

    best = read_image(sample["frames"][1])
    rows = dm.score(best[None], {"id": [sample["id"]], "frames": [sample["frames"]]})
    assert rows[0]["psnr"] == 100.0
    assert dm.protocol.startswith("kohler-max-frame")
    assert torch.is_tensor(sample["blurry"])


def test_extras_kernels_flow_and_fields(tmp_path):
    import torch

    trees.lai(tmp_path / "lai")
    s = _dm("lai-uniform", tmp_path / "lai").build_test_dataset()[0]
    assert s["kernels"].shape == (1, 5, 5) and float(s["kernels"].sum()) == pytest.approx(1.0)
    tree = trees.sintel(tmp_path / "sintel")
    ds = _dm("sintel-final", tmp_path / "sintel").build_test_dataset()
    ids = [r.id for r in ds.records]
    assert "training/final/alley_1/frame_0003.png" not in ids  # last frame of a scene has no forward flow
    s = ds[ids.index(tree.sample_id)]
    k = trees.read_tag(s["blurry"])
    assert s["flow"].shape == (2, 16, 16) and torch.all(s["flow"][0] == k) and torch.all(s["flow"][1] == -k)
    trees.levin(tmp_path / "levin")
    s = _dm("levin", tmp_path / "levin").build_test_dataset()[0]
    assert s["blurry"].shape == s["sharp"].shape == (3, 16, 16) and s["kernels"].shape == (1, 5, 5)
    trees.ade20k(tmp_path / "ade")
    dm = _dm("ade20k", tmp_path / "ade", eval_crop_size=16, kernel_size=9)
    a, b = dm.build_test_dataset()[1], dm.build_test_dataset()[1]
    assert a["blurry"].shape == a["sharp"].shape == (3, 16, 16)
    assert a["kernels"].shape[-1] == 9 and a["mixing"].shape[-2:] == (16, 16)
    assert torch.equal(a["blurry"], b["blurry"])  # seeded per item


def test_reds_variants_and_splits(tmp_path):
    trees.reds(tmp_path)
    reds4 = _dm("reds4", tmp_path)
    assert {r.id.split("/")[2] for r in reds4.records("reds4")} == {"000", "011"}
    assert {r.id.split("/")[2] for r in reds4.records("train-reds4")} == {"001"}
    assert reds4.train_split == "train-reds4"
    jpeg = _dm("reds4-jpeg", tmp_path).build_test_dataset()
    assert jpeg.records[0].id == "train/train_blur_jpeg/000/00000000.jpg"
    assert trees.read_tag(jpeg[0]["blurry"]) == trees.read_tag(jpeg[0]["sharp"])
    val = _dm("reds-val", tmp_path)
    assert [r.id for r in val.build_test_dataset().records][0] == "val/val_blur/000/00000000.png"
    with pytest.raises(ConfigError, match="variant"):
        get_checker("reds4").factory(tmp_path, variant="nope")


def test_dvd_splits_and_qualitative(tmp_path):
    trees.dvd(tmp_path)
    dm = _dm("dvd", tmp_path)
    assert {r.id.split("/")[1] for r in dm.records("test")} == {"IMG_0003"}
    assert {r.id.split("/")[1] for r in dm.records("train")} == {"IMG_0100"}
    qual = dm.records("qualitative")
    assert len(qual) == 2 and all(r.sharp is None for r in qual)
    assert dm.check_split("test")[1] == []  # a subset is allowed; strict mode names the 9 absent test videos:
    strict = get_checker("dvd").factory(tmp_path, allow_subset=False)
    assert sum("test video missing" in p for p in strict.check()) == 9


def test_hfr_averages_frames(tmp_path):
    import torch

    from blurbench.io import read_image

    tree = trees.hfr(tmp_path)
    dm = _dm("hfr", tmp_path)
    ds = dm.build_test_dataset()
    assert [r.id for r in ds.records] == ["clip_a/00003.png", "clip_a/00010.png", "clip_b/00003.png"]
    s = ds[1]
    frames = torch.stack([read_image(tmp_path / "clip_a" / f"{i:05d}.png") for i in range(7, 14)])
    assert torch.allclose(s["blurry"], frames.mean(0), atol=1e-6)
    assert torch.equal(s["sharp"], read_image(tree.sharp))
    g = get_checker("hfr").factory(tmp_path, gamma=2.2).build_test_dataset()[1]
    assert torch.allclose(g["blurry"], frames.pow(2.2).mean(0).pow(1 / 2.2), atol=1e-6)


def test_train_dataloader_random_aligned_crops(tmp_path):
    import torch

    base = trees.gopro(tmp_path).root
    for p in (base / "train").rglob("blur/*.png"):  # make pairs identical so alignment is visible
        shutil.copy(p, p.parent.parent / "sharp" / p.name)
    dm = get_checker("gopro").factory(tmp_path, allow_subset=True, crop_size=8, batch_size=2)
    torch.manual_seed(0)
    batch = next(iter(dm.train_dataloader()))
    assert batch["blurry"].shape == (2, 3, 8, 8) and torch.equal(batch["blurry"], batch["sharp"])
    assert all(i.startswith("train/") for i in batch["id"])
