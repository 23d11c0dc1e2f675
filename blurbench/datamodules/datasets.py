"""Every dataset blurbench knows, registered explicitly by name, metadata and ``"module:Class"`` (no scanning).

Nothing here imports a dataset module: ``blurbench data list`` and ``evaluate --help`` stay free of torch and
Lightning, and a datamodule's module is imported when it is built (:func:`blurbench.datamodules.registry.bind`).
A new dataset is its module (a :class:`~blurbench.datamodules.paired.PairedDataModule` subclass, with its
``register_download`` recipe) plus one :func:`paired` line here. ``kind``, ``gt_field`` and the built-in
descriptions repeat what the modules say: tests/test_registries.py checks that they agree.
"""

from __future__ import annotations

from typing import Any

from blurbench.datamodules.catalog import Checker, register_checker
from blurbench.datamodules.registry import DatasetSpec, register_dataset

_M = "blurbench.datamodules."


def paired(suite: str, name: str, target: str, description: str, *, kind: str = "image", gt_field: bool = False,
           evaluate: bool = True, **fixed: Any) -> None:
    """``target(root, **fixed, **kwargs)`` as dataset ``name``: for ``evaluate --suite`` (unless ``evaluate=False``:
    a family or training set, checked only) and ``data check``."""
    if evaluate:
        register_dataset(DatasetSpec(suite, name, kind, _M + target, description, needs_root=True, gt_field=gt_field,
                                     fixed=fixed))
    register_checker(Checker(name, _M + target, description, fixed=fixed))


def family(name: str, description: str, **parts: tuple[str, dict[str, Any]]) -> None:
    """``data check NAME`` over several datamodules at once (prefix -> (target, fixed arguments))."""
    register_checker(Checker(name, None, description, parts={k: (_M + t, f) for k, (t, f) in parts.items()}))


# ------------------------------------------------------------------ built-in suite (generated, no download)
for _name, _kind, _target, _fixed, _text in (
    ("motion", "image", "builtin:image_datamodule", {"name": "motion"},
     "8 photos, non-uniform motion blur (camera shake + up to 3 moving regions), no noise"),
    ("motion-noisy", "image", "builtin:image_datamodule", {"name": "motion-noisy"},
     "8 photos, non-uniform motion blur, Gaussian noise sigma 0.01"),
    ("video", "video", "builtin_video:datamodule", {},
     "4 clips x 5 frames (128x96), camera motion + moving layer, 7 HFR sub-frames averaged, GT flows"),
    ("video-large", "video", "builtin_video:large_datamodule", {},
     "3 clips x 5 frames (320x256), camera motion + moving layer, 7 HFR sub-frames averaged, GT flows, "
     "camera 10-30 px/frame, defocus in 2 of 3"),
    ("detection", "detection", "builtin_detection:datamodule", {},
     "8 photos, 1-3 regions with object-motion blur (|k|_2 <= 0.18), rest sharp; exact GT masks"),
):
    register_dataset(DatasetSpec("builtin", _name, _kind, _M + _target, _text, gt_field=_kind == "image",
                                 fixed=_fixed))

# ------------------------------------------------------------------ your own data
_FOLDER = "your own pairs: ROOT/blurry/* and ROOT/sharp/* with matching names"
register_dataset(DatasetSpec("folder", "pairs", "image", _M + "folder:FolderPairsDataModule", _FOLDER,
                             needs_root=True))
# `data check` takes the dataset's name and the suite's (the hints of evaluate name either)
for _name in ("pairs", "folder"):
    register_checker(Checker(_name, _M + "folder:check_folder", _FOLDER))
paired("hfr", "hfr", "hfr:HighFrameRate", "your high-fps sharp clips, blurred by averaging 7 frames")
paired("hfr", "hfr-video", "hfr:HighFrameRateVideo", "your high-fps clips as 5-frame windows of averaged frames",
       kind="video")

# ------------------------------------------------------------------ real blur, no ground truth (outputs only)
register_dataset(DatasetSpec("real", "clock-motion", "real", _M + "real:clock_datamodule",
                             "scikit-image's motion-blurred photograph clock_motion.png (real blur, no ground truth)"))
_REAL_FOLDER = "your blurry photos: every image under --data-root DIR (no ground truth: outputs only)"
register_dataset(DatasetSpec("real-folder", "photos", "real", _M + "real:RealBlurDataModule", _REAL_FOLDER,
                             needs_root=True))
for _name in ("photos", "real-folder"):
    register_checker(Checker(_name, _M + "real:RealBlurDataModule", _REAL_FOLDER))

# ------------------------------------------------------------------ blur detection
paired("cuhk", "cuhk-motion", "cuhk:CUHKBlurDetection",
       "CUHK blur detection (Shi 2014), motion category, even numbers (148 images)", kind="detection",
       category="motion")
paired("cuhk", "cuhk-out-of-focus", "cuhk:CUHKBlurDetection",
       "CUHK blur detection, out-of-focus category, even numbers (352 images)", kind="detection", evaluate=False,
       category="out_of_focus")
family("cuhk", "CUHK blur detection release (image/ and gt/, both categories)",
       motion=("cuhk:CUHKBlurDetection", {"category": "motion"}),
       out_of_focus=("cuhk:CUHKBlurDetection", {"category": "out_of_focus"}))

# ------------------------------------------------------------------ deblurring (image pairs, video windows)
paired("dvd", "dvd", "dvd:DVD", "DVD quantitative test set, 10 videos (1000 frame pairs)")
paired("dvd", "dvd-video", "dvd:DVDVideo", "DVD test videos as 5-frame sliding windows", kind="video")
paired("gopro", "gopro", "gopro:GoPro", "GoPro test, blur/ (1111 pairs, 1280x720)")
paired("gopro", "gopro-gamma", "gopro:GoPro", "GoPro test, blur_gamma/ (linear-light average)",
       variant="blur_gamma")
paired("gopro", "gopro-video", "gopro:GoProVideo", "GoPro test sequences as 5-frame sliding windows", kind="video")
paired("hide", "hide", "hide:HIDE", "HIDE test (2025 pairs: close-ups and long shots)")
paired("kohler", "kohler", "kohler:Kohler", "Köhler 2012: 48 real camera-shake images, best-frame PSNR")
paired("lai", "lai-uniform", "lai:Lai", "Lai 2016 synthetic uniform set (100 images: 25 × 4 kernels, GT kernels)",
       split="uniform", sets=("uniform",))
paired("lai", "lai-nonuniform", "lai:Lai",
       "Lai 2016 synthetic non-uniform set (100 images: 25 × 4 camera trajectories)",
       split="nonuniform", sets=("nonuniform",))
paired("lai", "lai", "lai:Lai", "Lai 2016: uniform, non-uniform and real sets", evaluate=False)
paired("levin", "levin", "levin:Levin", "Levin 2009: 32 grey images (4 x 8 kernels) with GT kernels")
paired("realblur", "realblur-j", "realblur:RealBlur", "RealBlur-J test (980 pairs), ECC-aligned official scoring",
       camera="J")
paired("realblur", "realblur-r", "realblur:RealBlur", "RealBlur-R test (980 pairs), ECC-aligned official scoring",
       camera="R")
for _cam in ("J", "R"):  # realblur.TELE_FOLDERS
    paired("realblur-tele", f"realblur-{_cam.lower()}-tele", "realblur:RealBlurTele",
           f"RealBlur-Tele {_cam} test (996 pairs), ECC-aligned scoring", camera=_cam)
paired("bsd-b", "bsd-b", "realblur:BSDB", "BSD-B synthetic training pairs (RealBlur recipe)", evaluate=False)
family("realblur", "RealBlur-J and RealBlur-R",
       J=("realblur:RealBlur", {"camera": "J"}), R=("realblur:RealBlur", {"camera": "R"}))
family("realblur-tele", "RealBlur-Tele",
       J=("realblur:RealBlurTele", {"camera": "J"}), R=("realblur:RealBlurTele", {"camera": "R"}))
paired("reds", "reds4", "reds:REDS", "REDS4 (train clips 000/011/015/020, 400 frames), blur")
paired("reds", "reds4-comp", "reds:REDS", "REDS4, blur_comp (compressed blur)", variant="blur_comp")
paired("reds", "reds4-jpeg", "reds:REDS", "REDS4, blur_jpeg", variant="blur_jpeg")
paired("reds", "reds-val", "reds:REDS", "REDS val (30 clips, 3000 frames), blur", split="val")
paired("reds", "reds4-video", "reds:REDSVideo", "REDS4 as 5-frame sliding windows, blur", kind="video")
paired("reds", "reds-val-video", "reds:REDSVideo", "REDS val as 5-frame sliding windows, blur", kind="video",
       split="val")
paired("reds", "reds", "reds:REDS", "REDS: train/val/test/REDS4 splits", evaluate=False)
paired("sintel", "sintel-final", "sintel:Sintel",
       "MPI Sintel training: final (blurred) vs clean frames, GT flow; only the 1041 of 1064 frames with a flow file")
paired("sintel", "sintel-final-video", "sintel:SintelVideo",
       "MPI Sintel training scenes as 5-frame windows with flow (the 1041 of 1064 frames with a flow file)",
       kind="video")
paired("sintel", "sintel", "sintel:Sintel", "MPI Sintel training/test", evaluate=False)

# ------------------------------------------------------------------ kernel estimation (seeded synthetic blur)
paired("ade20k", "ade20k", "sources:ADE20K", "ADE20K validation (2000) with seeded synthetic non-uniform blur",
       gt_field=True)
paired("bsd500", "bsd500", "sources:BSD500", "BSD500 test (200) with seeded synthetic non-uniform blur",
       gt_field=True)
