"""RealBlur (Rim, Lee, Won, Cho, ECCV 2020; CC BY 4.0), RealBlur-Tele and BSD-B.

RealBlur layout (``RealBlur.zip``, root may contain ``RealBlur/``)::

    RealBlur_J_train_list.txt  RealBlur_J_test_list.txt  RealBlur_R_train_list.txt  RealBlur_R_test_list.txt
    RealBlur-J_ECC_IMCORR_centroid_itensity_ref/sceneNNN/{gt/gt_N.png, blur/blur_N.png}
    RealBlur-R_BM3D_ECC_IMCORR_centroid_itensity_ref/sceneNNN/{gt/gt_N.png, blur/blur_N.png}

List lines are ``gt_path blur_path`` relative to the root; 3758 train / 980 test pairs per camera. The
order of the list is the evaluation order; ids are the blur paths. Scores follow the official
``evaluation_RealBlur_ecc.py`` (:func:`blurbench.metrics.protocols.realblur_psnr_ssim`).

RealBlur-Tele (``RealBlur-Tele.tar.gz``; test only): scenes in ``RealBlur-{J,R}-Tele_ECC_IMCORR_centroid_itensity_ref/``
(folder names and counts unverified), listed by scanning ``sceneNNN/blur/blur_N.png`` ↔ ``gt/gt_N.png``.

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
from blurbench.datamodules.catalog import register_combined
from blurbench.datamodules.download import DownloadSpec, Source, register_download
from blurbench.datamodules.paired import PairedDataModule, register, rel_id, sorted_images
from blurbench.errors import ConfigError, DataError
from blurbench.metrics.protocols import REALBLUR_PROTOCOL, realblur_psnr_ssim

FOLDERS = {"J": "RealBlur-J_ECC_IMCORR_centroid_itensity_ref", "R": "RealBlur-R_BM3D_ECC_IMCORR_centroid_itensity_ref"}
OFFICIAL_COUNTS = {"train": 3758, "test": 980}
TELE_FOLDERS = {"J": "RealBlur-J-Tele_ECC_IMCORR_centroid_itensity_ref",  # (unverified)
                "R": "RealBlur-R-Tele_ECC_IMCORR_centroid_itensity_ref"}  # (unverified)
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
    official_counts: dict[str, int | None] = {"test": None}  # (unverified) ~996 pairs per camera
    top_folders = ("RealBlur-Tele",)

    def __init__(self, root: str | Path, split: str | None = None, *, camera: str = "J", **kwargs: Any) -> None:
        if camera not in TELE_FOLDERS:
            raise ConfigError(f"unknown RealBlur-Tele camera '{camera}'", "choose 'J' or 'R'")
        self.camera = camera
        super().__init__(root, split, **kwargs)

    def list_records(self, split: str) -> list[PairRecord]:
        base = self.root / TELE_FOLDERS[self.camera]
        if not base.is_dir():
            raise DataError(f"{base}: not found", "expected RealBlur-Tele/<camera folder>/sceneNNN/{blur,gt}/")
        records = []
        for scene in sorted(p for p in base.iterdir() if p.is_dir()):
            indices = {m.group(2) for side in ("blur", "gt") for p in sorted_images(scene / side)
                       if (m := re.fullmatch(r"(blur|gt)_(\d+)\.png", p.name))}
            for i in sorted(indices, key=int):
                blur = scene / "blur" / f"blur_{i}.png"
                records.append(PairRecord(rel_id(blur, self.root), blur, scene / "gt" / f"gt_{i}.png"))
        return records


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


register("realblur", "realblur-j", RealBlur, "RealBlur-J test (980 pairs), ECC-aligned official scoring", camera="J")
register("realblur", "realblur-r", RealBlur, "RealBlur-R test (980 pairs), ECC-aligned official scoring", camera="R")
register("realblur-tele", "realblur-j-tele", RealBlurTele, "RealBlur-Tele J test, ECC-aligned scoring", camera="J")
register("realblur-tele", "realblur-r-tele", RealBlurTele, "RealBlur-Tele R test, ECC-aligned scoring", camera="R")
register("bsd-b", "bsd-b", BSDB, "BSD-B synthetic training pairs (RealBlur recipe)", evaluate=False)

_HOME = "http://cg.postech.ac.kr/research/realblur/"
register_download(DownloadSpec("realblur", sources=(Source("http://cg.postech.ac.kr/research/RealBlur/RealBlur.zip"),),
                               licence="CC BY 4.0", homepage=_HOME))
register_download(DownloadSpec("bsd-b", sources=(Source("http://cg.postech.ac.kr/research/RealBlur/BSD_B_Centroid.zip"),),
                               licence="CC BY 4.0", homepage=_HOME))
register_download(DownloadSpec("realblur-tele", licence="CC BY 4.0", homepage=_HOME,
                               manual=f"download RealBlur-Tele.tar.gz from the Google Drive link on {_HOME} and "
                                      "unpack it into --root"))
register_combined("realblur", {"J": lambda root, **kw: RealBlur(root, camera="J", **kw),
                               "R": lambda root, **kw: RealBlur(root, camera="R", **kw)}, "RealBlur-J and RealBlur-R")
register_combined("realblur-tele", {"J": lambda root, **kw: RealBlurTele(root, camera="J", **kw),
                                    "R": lambda root, **kw: RealBlurTele(root, camera="R", **kw)}, "RealBlur-Tele")
