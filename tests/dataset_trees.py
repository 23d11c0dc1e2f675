"""Builders of tiny dataset trees in the official layouts (right names and nesting, few small files).

Every pair k is *tagged*: the top-left 8×8 block of both its blurry and its sharp image holds the grey level
``tag_value(k)``, so a test can tell that a sample pairs the right files (JPEG-safe: levels 10 apart).
Each builder returns a :class:`Tree` naming one pair of the evaluated split to damage in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

SIZE = 16


def tag_value(k: int) -> int:
    return 15 + 10 * (k % 24)


def read_tag(image) -> int:
    """Tag index of a [3, H, W] float tensor."""
    level = float(image[:, :8, :8].mean()) * 255
    return int(round((level - 15) / 10))


@dataclass
class Tree:
    root: Path
    #: one blurry / one sharp file of the evaluated split, and the id of their sample
    blurry: Path
    sharp: Path
    sample_id: str
    extra: dict = field(default_factory=dict)


def write_image(path: Path, k: int, seed: int, size: tuple[int, int] = (SIZE, SIZE)) -> Path:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    img[:8, :8] = tag_value(k)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return path


class _Counter:
    def __init__(self) -> None:
        self.k = 0

    def pair(self, blurry: Path, sharp: Path | None, size=(SIZE, SIZE)) -> int:
        k = self.k
        self.k += 1
        write_image(blurry, k, seed=2 * k, size=size)
        if sharp is not None:
            write_image(sharp, k, seed=2 * k + 1, size=size)
        return k


def gopro(root: Path) -> Tree:
    base, c = root / "GOPRO_Large", _Counter()
    for split, seqs in (("train", {"GOPR0372_07_00": 3}), ("test", {"GOPR0384_11_00": 3, "GOPR0410_11_00": 2})):
        for seq, n in seqs.items():
            for i in range(1, n + 1):
                name = f"{i:06d}.png"
                k = c.pair(base / split / seq / "blur" / name, base / split / seq / "sharp" / name)
                write_image(base / split / seq / "blur_gamma" / name, k, seed=1000 + k)
    return Tree(base, base / "test/GOPR0384_11_00/blur/000002.png", base / "test/GOPR0384_11_00/sharp/000002.png",
                "test/GOPR0384_11_00/blur/000002.png")


def dvd(root: Path) -> Tree:
    base, c = root / "DeepVideoDeblurring_Dataset", _Counter()
    q = base / "quantitative_datasets"
    for video, n in (("IMG_0003", 3), ("IMG_0100", 4)):
        for i in range(n):
            c.pair(q / video / "input" / f"{i:05d}.jpg", q / video / "GT" / f"{i:05d}.jpg")
    for i in range(2):
        c.pair(base / "qualitative_datasets" / "real_1" / "input" / f"{i:05d}.jpg", None)
    return Tree(base, q / "IMG_0003/input/00001.jpg", q / "IMG_0003/GT/00001.jpg",
                "quantitative_datasets/IMG_0003/input/00001.jpg")


def realblur(root: Path, size=(SIZE, SIZE)) -> Tree:
    base, c = root / "RealBlur", _Counter()
    folders = {"J": "RealBlur-J_ECC_IMCORR_centroid_itensity_ref",
               "R": "RealBlur-R_BM3D_ECC_IMCORR_centroid_itensity_ref"}
    for cam, folder in folders.items():
        for split, scene in (("train", "scene001"), ("test", "scene002")):
            lines = []
            for i in (1, 2, 10):  # 10 sorts before 2 as text: the list order, not sorting, must win
                gt, blur = f"{folder}/{scene}/gt/gt_{i}.png", f"{folder}/{scene}/blur/blur_{i}.png"
                c.pair(base / blur, base / gt, size=size)
                lines.append(f"{gt} {blur}")
            (base / f"RealBlur_{cam}_{split}_list.txt").write_text("\n".join(lines) + "\n")
    f = folders["J"]
    return Tree(base, base / f / "scene002/blur/blur_10.png", base / f / "scene002/gt/gt_10.png",
                f"{f}/scene002/blur/blur_10.png", {"order": ["1", "2", "10"]})


#: RealBlur-Tele folders as the authors' test lists name them (rimchang/SRN-Deblur @ e143419,
#: datalist/RealBlur_{J,R}_Tele_test_list.txt: 996 lines "gt_path blur_path " each, in this order)
TELE_FOLDERS = {"J": "RealBlur-J-Tele_ECC_IMCORR_centroid_itensity_ref",
                "R": "RealBlur-R-Tele_BM3D_ECC_IMCORR_centroid_itensity_ref"}
#: the first pairs of those lists: (scene, index) in list order (scene166 opens the list, scene002 is line 638)
TELE_PAIRS = (("scene166", 7), ("scene166", 2), ("scene166", 6), ("scene002", 7), ("scene002", 2))


def realblur_tele(root: Path, folders: dict[str, str] | None = None, lists: bool = False) -> Tree:
    """Both cameras; ``folders`` maps a camera to its folder (may include a parent, ``ReaBlur-R-Tele/...``).

    ``lists`` also writes the authors' list files (with the lists' folder names) into the root.
    """
    base, c = root / "RealBlur-Tele", _Counter()
    folders = {**TELE_FOLDERS, **(folders or {})}
    for cam, folder in folders.items():
        lines = []
        for scene, i in TELE_PAIRS:
            c.pair(base / folder / scene / "blur" / f"blur_{i}.png", base / folder / scene / "gt" / f"gt_{i}.png")
            name = TELE_FOLDERS[cam]
            lines.append(f"{name}/{scene}/gt/gt_{i}.png {name}/{scene}/blur/blur_{i}.png ")
        if lists:
            (base / f"RealBlur_{cam}_Tele_test_list.txt").write_text("\n".join(lines) + "\n")
    f = folders["J"]
    return Tree(base, base / f / "scene002/blur/blur_2.png", base / f / "scene002/gt/gt_2.png",
                f"{TELE_FOLDERS['J']}/scene002/blur/blur_2.png")


def realblur_tele_r(root: Path) -> Tree:
    t = realblur_tele(root)
    f = TELE_FOLDERS["R"]
    return Tree(t.root, t.root / f / "scene166/blur/blur_6.png", t.root / f / "scene166/gt/gt_6.png",
                f"{f}/scene166/blur/blur_6.png")


def bsdb(root: Path) -> Tree:
    base, c = root / "BSD_B_Centroid", _Counter()
    lines = []
    for i in range(3):
        gt, blur = f"train/sharp/{i:04d}.png", f"train/blur/{i:04d}.png"
        c.pair(base / blur, base / gt)
        lines.append(f"{gt} {blur}")
    (base / "BSB_B_Centroid_train.txt").write_text("\n".join(lines) + "\n")
    return Tree(base, base / "train/blur/0001.png", base / "train/sharp/0001.png", "train/blur/0001.png")


def kohler(root: Path, frames: int = 2) -> Tree:
    c = _Counter()
    for i in range(1, 5):
        for j in range(1, 13):
            k = c.pair(root / f"Blurry{i}_{j}.png", None)
            for f in range(1, frames + 1):
                frame = root / f"Image{i}" / f"Kernel{j}" / f"GroundTruth{i}_{j}_{f}.png"
                write_image(frame, k, seed=5000 + 10 * k + f)
    return Tree(root, root / "Blurry2_5.png", root / "Image2/Kernel5/GroundTruth2_5_2.png", "Blurry2_5.png")


#: Lai et al. 2016, the authors' list files (phoenix104104/cvpr16_deblur_study @ d8751a8, list/):
#: ground_truth.txt (25 names), synthetic_uniform.txt (each ground truth × kernel_01..04),
#: synthetic_nonuniform.txt and gyro.txt (each ground truth × gyro_01..04), real.txt (100 names, first three here)
LAI_GROUND_TRUTH = tuple(f"{cat}_0{i}" for cat in ("manmade", "natural", "people", "saturated", "text")
                         for i in range(1, 6))
LAI_KERNELS = ("kernel_01", "kernel_02", "kernel_03", "kernel_04")
LAI_GYROS = ("gyro_01", "gyro_02", "gyro_03", "gyro_04")
#: synthetic_nonuniform.txt as first committed (cbc1013), before the authors' "fix list" commit (ebaedad)
LAI_GYROS_2016 = ("gyro_07", "gyro_16", "gyro_23", "gyro_24")
LAI_REAL = ("bird", "boat1", "boy_statue")


def lai(root: Path, images=("manmade_01", "text_05"), kernels=LAI_KERNELS[:2], gyros=LAI_GYROS[:2],
        real: bool = True, nonuniform_dir: str = "synthetic_dataset/nonuniform") -> Tree:
    """Uniform set ``{image}_{kernel}.png``, non-uniform set ``{image}_{gyro}.png``, kernels, trajectories, real set.

    The tagged pair of an image is its ground truth and every blurred version of it.
    """
    base, c = root / "Benchmark", _Counter()
    syn = base / "synthetic_dataset"
    for n, kernel in enumerate(kernels, 1):
        kern = np.zeros((5, 5), np.uint8)
        kern[2, : 1 + n] = 255
        (syn / "kernel").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(syn / "kernel" / f"{kernel}.png"), kern)
    for gyro in gyros:  # the trajectories run_synthesize_nonuniform.m reads (not read by blurbench)
        (syn / "gyro" / gyro).mkdir(parents=True, exist_ok=True)
        (syn / "gyro" / gyro / "gyro.txt").write_text("0 0 9.8 0 0 0 0.00\n")
        (syn / "gyro" / gyro / "info.txt").write_text("0 0.1 0.2\n")
    for image in images:
        k = c.pair(syn / "uniform" / f"{image}_{kernels[0]}.png", syn / "ground_truth" / f"{image}.png")
        for n, kernel in enumerate(kernels[1:]):
            write_image(syn / "uniform" / f"{image}_{kernel}.png", k, seed=7000 + 10 * k + n)
        for g, gyro in enumerate(gyros):
            write_image(base / nonuniform_dir / f"{image}_{gyro}.png", k, seed=8000 + 10 * k + g)
    if real:
        for name in LAI_REAL:
            c.pair(base / "real_dataset" / f"{name}.jpg", None)
    image, kernel = images[-1], kernels[-1]
    return Tree(base, syn / f"uniform/{image}_{kernel}.png", syn / f"ground_truth/{image}.png",
                f"synthetic_dataset/uniform/{image}_{kernel}.png")


def lai_nonuniform(root: Path) -> Tree:
    syn = lai(root).root / "synthetic_dataset"
    name = "text_05_gyro_02.png"
    # a missing blurred image is caught by the count (no list of the set ships with it): delete a ground truth
    return Tree(syn.parent, syn / "nonuniform" / name, syn / "ground_truth/text_05.png",
                f"synthetic_dataset/nonuniform/{name}", {"missing": syn / "ground_truth/text_05.png"})


def levin(root: Path) -> Tree:
    from scipy.io import savemat

    base = root / "Levin09blurdata"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for img in (5, 6):
        for ker in (1, 2):
            x = rng.random((SIZE, SIZE))
            f = np.zeros((5, 5))
            f[2, :3] = 1 / 3
            savemat(str(base / f"im0{img}_flit0{ker}.mat"), {"x": x, "y": x * 0.5 + 0.25, "f": f})
    return Tree(base, base / "im06_flit01.mat", base / "im06_flit01.mat", "im06_flit01.mat")


def reds(root: Path) -> Tree:
    base, c = root / "REDS", _Counter()
    for split, clips in (("train", ("000", "001", "011")), ("val", ("000",))):
        for clip in clips:
            for i in range(3):
                name = f"{i:08d}.png"
                k = c.pair(base / split / f"{split}_blur" / clip / name, base / split / f"{split}_sharp" / clip / name)
                write_image(base / split / f"{split}_blur_comp" / clip / name, k, seed=9000 + k)
                write_image(base / split / f"{split}_blur_jpeg" / clip / f"{i:08d}.jpg", k, seed=9500 + k)
    return Tree(base, base / "train/train_blur/011/00000001.png", base / "train/train_sharp/011/00000001.png",
                "train/train_blur/011/00000001.png")


def hide(root: Path) -> Tree:
    base, c = root / "HIDE_dataset", _Counter()
    for folder, names in (("train", ("1fromGOPR0950.MP4", "2fromGOPR0950.MP4")),
                          ("test/test-close-ups", ("10fromGOPR1009.MP4",)),
                          ("test/test-long-shot", ("3fromGOPR1096.MP4", "8fromGOPR1096.MP4"))):
        for n in names:
            c.pair(base / folder / f"{n}.png", base / "GT" / f"{n}.png")
    return Tree(base, base / "test/test-long-shot/8fromGOPR1096.MP4.png", base / "GT/8fromGOPR1096.MP4.png",
                "test/test-long-shot/8fromGOPR1096.MP4.png", {"missing": base / "GT/8fromGOPR1096.MP4.png"})


def sintel(root: Path) -> Tree:
    import torch

    from blurbench.metrics.protocols import write_flo

    base, c = root / "MPI-Sintel-complete", _Counter()
    for split, scenes in (("training", {"alley_1": 3, "bamboo_1": 2}), ("test", {"ambush_1": 2})):
        for scene, n in scenes.items():
            for i in range(1, n + 1):
                name = f"frame_{i:04d}.png"
                k = c.pair(base / split / "final" / scene / name, base / split / "clean" / scene / name)
                if split == "training" and i < n:
                    flow = torch.zeros(2, SIZE, SIZE)
                    flow[0], flow[1] = k, -k
                    write_flo(base / split / "flow" / scene / f"frame_{i:04d}.flo", flow)
    return Tree(base, base / "training/final/alley_1/frame_0002.png", base / "training/clean/alley_1/frame_0002.png",
                "training/final/alley_1/frame_0002.png",
                {"flow": base / "training/flow/alley_1/frame_0002.flo"})


def ade20k(root: Path, size=(48, 48)) -> Tree:
    base, c = root / "ADEChallengeData2016", _Counter()
    for split in ("training", "validation"):
        for i in (1, 2):
            stem = f"ADE_{split[:5]}_{i:08d}"
            c.pair(base / "images" / split / f"{stem}.jpg", None, size=size)
            labels = np.zeros(size, np.uint8)
            labels[: size[0] // 2] = 3
            (base / "annotations" / split).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(base / "annotations" / split / f"{stem}.png"), labels)
    return Tree(base, base / "images/validation/ADE_valid_00000002.jpg",
                base / "annotations/validation/ADE_valid_00000002.png", "images/validation/ADE_valid_00000002.jpg",
                {"missing": base / "annotations/validation/ADE_valid_00000002.png"})


def bsd500(root: Path) -> Tree:
    base, c = root / "BSR" / "BSDS500" / "data", _Counter()
    for split in ("train", "val", "test"):
        for i in (1, 2):
            c.pair(base / "images" / split / f"{i}00{i}.jpg", None, size=(48, 48))
    img = base / "images/test/2002.jpg"
    return Tree(base, img, img, "images/test/2002.jpg")


def hfr(root: Path) -> Tree:
    c = _Counter()
    for clip, n in (("clip_a", 14), ("clip_b", 7)):
        for i in range(n):
            c.pair(root / clip / f"{i:05d}.png", None)
    return Tree(root, root / "clip_a/00008.png", root / "clip_a/00010.png", "clip_a/00010.png")


def gopro_gamma(root: Path) -> Tree:
    t = gopro(root)
    return Tree(t.root, Path(str(t.blurry).replace("/blur/", "/blur_gamma/")), t.sharp,
                t.sample_id.replace("/blur/", "/blur_gamma/"))
