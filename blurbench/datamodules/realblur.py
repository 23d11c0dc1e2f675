"""RealBlur (Rim, Lee, Won, Cho, ECCV 2020; CC BY 4.0), RealBlur-Tele and BSD-B.

RealBlur layout (``RealBlur.zip``, root may contain ``RealBlur/``)::

    RealBlur_J_train_list.txt  RealBlur_J_test_list.txt  RealBlur_R_train_list.txt  RealBlur_R_test_list.txt
    RealBlur-J_ECC_IMCORR_centroid_itensity_ref/sceneNNN/{gt/gt_N.png, blur/blur_N.png}
    RealBlur-R_BM3D_ECC_IMCORR_centroid_itensity_ref/sceneNNN/{gt/gt_N.png, blur/blur_N.png}

List lines are ``gt_path blur_path`` relative to the root; 3758 train / 980 test pairs per camera. The
order of the list is the evaluation order; ids are the blur paths. Scores follow the official
``evaluation_RealBlur_ecc.py`` (:func:`blurbench.metrics.protocols.realblur_psnr_ssim`).

RealBlur-Tele (``RealBlur-Tele.tar.gz``; test only): 996 pairs per camera in 50 scenes, per the authors' lists
``RealBlur_{J,R}_Tele_test_list.txt`` (github.com/rimchang/SRN-Deblur ``datalist/``, 2020-08-18), whose folders are
``RealBlur-J-Tele_ECC_IMCORR_centroid_itensity_ref`` and ``RealBlur-R-Tele_BM3D_ECC_IMCORR_centroid_itensity_ref``.
Every spelling the authors' post-processing scripts (RealBlur ``post_processing/RealBlur_Tele_Post_processing_code``)
can produce is read too: for R, ``make_libraw_using_srgb_tele_dataset_main_resize.m`` writes
``ReaBlur-R-Tele_ECC_IMCORR_centroid_itensity_ref`` (their typo, no ``_BM3D``), and the fixed spelling with or without
``_BM3D`` is accepted; for J, ``make_srgb_tele_dataset_main_resize.m`` writes the list's name. Each folder may sit in
the root or inside the scripts' camera folder (``RealBlur-J-Tele/``, ``ReaBlur-R-Tele/``, ``RealBlur-R-Tele/``); the
16-bit ``..._unit16`` outputs are not the benchmark and are not read. When the list file is in the root its pairs are
read in its order (missing files are then named); otherwise ``sceneNNN/blur/blur_N.png`` ↔ ``gt/gt_N.png`` are
scanned. Ids are the list's blur paths (the authors' folder name), whatever the spelling on disk.

BSD-B (``BSD_B_Centroid.zip``, 20,000 synthetic training pairs; RealBlur's training recipe): pairs from the
list file ``BSB_B_Centroid_train.txt`` (RealBlur's spelling) or ``BSD_B_Centroid_train.txt`` in the root,
lines ``gt_path blur_path``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.download import DownloadSpec, Source, register_download
from blurbench.datamodules.paired import PairedDataModule, rel_id, sorted_images
from blurbench.errors import ConfigError, DataError
from blurbench.metrics.protocols import REALBLUR_PROTOCOL, realblur_psnr_ssim

FOLDERS = {"J": "RealBlur-J_ECC_IMCORR_centroid_itensity_ref", "R": "RealBlur-R_BM3D_ECC_IMCORR_centroid_itensity_ref"}
OFFICIAL_COUNTS = {"train": 3758, "test": 980}
_TELE_SUFFIX = "_ECC_IMCORR_centroid_itensity_ref"
#: camera -> accepted folder names, the authors' list name first (see the module docstring)
TELE_FOLDERS = {"J": ("RealBlur-J-Tele" + _TELE_SUFFIX,),
                "R": tuple(f"{p}-R-Tele{b}{_TELE_SUFFIX}" for p in ("RealBlur", "ReaBlur") for b in ("_BM3D", ""))}
#: the scripts' camera folders that may wrap the folder above
TELE_PARENTS = {"J": ("RealBlur-J-Tele",), "R": ("RealBlur-R-Tele", "ReaBlur-R-Tele")}
#: pairs in the authors' test lists (RealBlur_{J,R}_Tele_test_list.txt)
TELE_COUNTS = {"test": 996}
BSDB_LISTS = ("BSB_B_Centroid_train.txt", "BSD_B_Centroid_train.txt")
BSDB_COUNT = 20_000


def read_pair_list(list_file: Path, root: Path) -> list[PairRecord]:
    """Records from a ``gt_path blur_path`` list (paths relative to ``root``), in file order."""
    if not list_file.is_file():
        raise DataError(f"{list_file}: official list file missing", "re-download the dataset (it ships the lists)")
    records = []
    for lineno, line in enumerate(list_file.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise DataError(f"{list_file}:{lineno}: expected 'gt_path blur_path', got '{line.strip()}'",
                            "restore the official list file")
        gt, blur = root / parts[0], root / parts[1]
        records.append(PairRecord(rel_id(blur, root), blur, gt))
    return records


class _ECCScored(PairedDataModule):
    protocol = f"{REALBLUR_PROTOCOL} (intensity match, ECC homography, masked PSNR/SSIM, official code)"

    def score(self, restored: torch.Tensor, batch: dict[str, Any]) -> list[dict[str, float]]:
        if "sharp" not in batch:
            raise ConfigError(f"{self.name} split '{self.split_name}' has no ground truth", "score the test split")
        out = []
        for r, s in zip(restored, batch["sharp"]):
            p, q = realblur_psnr_ssim(r, s)
            out.append({"psnr": p, "ssim": q})
        return out


class RealBlur(_ECCScored):
    name = "realblur-j"
    official_counts = OFFICIAL_COUNTS
    top_folders = ("RealBlur",)

    def __init__(self, root: str | Path, split: str | None = None, *, camera: str = "J", **kwargs: Any) -> None:
        if camera not in FOLDERS:
            raise ConfigError(f"unknown RealBlur camera '{camera}'", "choose 'J' (JPEG) or 'R' (raw)")
        self.camera = camera
        super().__init__(root, split, **kwargs)

    def list_file(self, split: str) -> Path:
        return self.root / f"RealBlur_{self.camera}_{split}_list.txt"

    def list_records(self, split: str) -> list[PairRecord]:
        return read_pair_list(self.list_file(split), self.root)


class RealBlurTele(_ECCScored):
    name = "realblur-j-tele"
    official_counts: dict[str, int | None] = TELE_COUNTS
    top_folders = ("RealBlur-Tele",)

    def __init__(self, root: str | Path, split: str | None = None, *, camera: str = "J", **kwargs: Any) -> None:
        if camera not in TELE_FOLDERS:
            raise ConfigError(f"unknown RealBlur-Tele camera '{camera}'", "choose 'J' or 'R'")
        self.camera = camera
        super().__init__(root, split, **kwargs)

    def list_file(self, split: str) -> Path:
        return self.root / f"RealBlur_{self.camera}_Tele_{split}_list.txt"

    def folder(self) -> Path:
        """The camera's folder on disk: the first accepted spelling found (in the root, then in a camera folder)."""
        names = TELE_FOLDERS[self.camera]
        for parent in (self.root, *(self.root / p for p in TELE_PARENTS[self.camera])):
            for name in names:
                if (parent / name).is_dir():
                    return parent / name
        raise DataError(f"{self.root / names[0]}: not found",
                        f"expected RealBlur-Tele/<{' or '.join(names)}>/sceneNNN/{{blur,gt}}/")

    def list_records(self, split: str) -> list[PairRecord]:
        base = self.folder()
        canonical = TELE_FOLDERS[self.camera][0]
        pairs = []
        if self.list_file(split).is_file():  # the authors' list: its pairs, its order
            for rec in read_pair_list(self.list_file(split), self.root):
                blur, gt = (Path(*Path(rel_id(p, self.root)).parts[1:]) for p in (rec.blurry, rec.sharp))
                pairs.append((base / blur, base / gt))
        else:
            for scene in sorted(p for p in base.iterdir() if p.is_dir()):
                indices = {m.group(2) for side in ("blur", "gt") for p in sorted_images(scene / side)
                           if (m := re.fullmatch(r"(blur|gt)_(\d+)\.png", p.name))}
                pairs += [(scene / "blur" / f"blur_{i}.png", scene / "gt" / f"gt_{i}.png")
                          for i in sorted(indices, key=int)]
        return [PairRecord(f"{canonical}/{rel_id(blur, base)}", blur, gt) for blur, gt in pairs]


class BSDB(PairedDataModule):
    name = "bsd-b"
    official_counts = {"train": BSDB_COUNT}
    default_split = "train"
    top_folders = ("BSD_B_Centroid",)

    def list_records(self, split: str) -> list[PairRecord]:
        for name in BSDB_LISTS:
            if (self.root / name).is_file():
                return read_pair_list(self.root / name, self.root)
        raise DataError(f"{self.root / BSDB_LISTS[0]}: BSD-B list file missing",
                        "get the list from RealBlur's SRN-Deblur/datalist and put it in the dataset root")


_HOME = "http://cg.postech.ac.kr/research/realblur/"
register_download(DownloadSpec("realblur", sources=(Source("http://cg.postech.ac.kr/research/RealBlur/RealBlur.zip"),),
                               licence="CC BY 4.0", homepage=_HOME))
register_download(DownloadSpec("bsd-b", sources=(Source("http://cg.postech.ac.kr/research/RealBlur/BSD_B_Centroid.zip"),),
                               licence="CC BY 4.0", homepage=_HOME))
register_download(DownloadSpec("realblur-tele", licence="CC BY 4.0", homepage=_HOME,
                               manual=f"download RealBlur-Tele.tar.gz from the Google Drive link on {_HOME} and "
                                      "unpack it into --root"))
