"""Training images for the CPU blur-field recipe, taken from scikit-image's wheel (no download).

The built-in benchmark photos (:data:`blurbench.datamodules.builtin.PHOTOS`, and ``cat``, which is the same
picture as ``chelsea``) are never used, nor are the photos of the built-in ``val`` split
(:data:`blurbench.datamodules.builtin.VAL_PHOTOS`, held out since version 2): the recipes train on
:data:`TRAIN_IMAGES` instead. Grayscale images are replicated to RGB, RGBA logos are composited over white and
the 200 tiny ``lfw_subset`` faces become one 10 × 20 mosaic. Every image is resized to a long side of
:data:`LONG_SIDE` px (INTER_AREA when shrinking, bicubic when enlarging) and written as an 8-bit PNG to
``<cache>/train/skimage-v<version>/`` with a sha256 ``manifest.json``; the folder is rebuilt when it is
missing, partial or corrupt.

:class:`SkimageBlurDataModule` is :class:`~blurbench.datamodules.synthetic.SyntheticBlurDataModule` over that
folder, with a camera-shake kernel bank in the cache (``kernel_bank="auto"``); with ``photos="debian"`` it trains
on :mod:`~blurbench.datamodules.debian_photos`' folder instead (natural photographs + these images). Bank kernel
``i`` is seeded with ``[bank tag, bank_seed, i]`` (:meth:`blurbench.ops.kernels.KernelBank.generate`), a seed
sequence the benchmark generator (single integers drawn from ``default_rng([dataset seed, photo index])``) never
uses, so training kernels are disjoint from the benchmark's.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from blurbench.cache import cache_dir
from blurbench.datamodules.synthetic import SyntheticBlurDataModule
from blurbench.errors import ConfigError
from blurbench.io import atomic_write_json, manifest_problems, move_directory_into_place, sha256_file, write_image
from blurbench.ops.kernels import GENERATOR_VERSION, KernelBank

__all__ = ["LONG_SIDE", "TRAIN_IMAGES", "SkimageBlurDataModule", "build_cached_folder", "default_bank_path",
           "folder_is_intact", "prepare_training_images", "training_images_dir"]

#: bump when the written images change (2: the val photos retina, camera, coins, gravel held out)
VERSION = "2"
LONG_SIDE = 448
#: scikit-image images bundled in the wheel, none of them a benchmark (test or val) photo
TRAIN_IMAGES = (
    "brick", "cell", "checkerboard", "clock", "colorwheel", "grass", "lfw_subset",
    "logo", "microaneurysms", "moon", "page", "shepp_logan_phantom", "text",
)


def training_images_dir() -> Path:
    return cache_dir() / "train" / f"skimage-v{VERSION}"


def _to_rgb_u8(img: np.ndarray) -> np.ndarray:
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        img = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)  # float images in [0, 1]
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    if img.shape[2] == 4:  # composite over white
        alpha = img[..., 3:4].astype(np.float32) / 255.0
        return np.round(img[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return img[..., :3]


def _resize(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    scale = LONG_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def _images(name: str) -> dict[str, np.ndarray]:
    import skimage.data as data  # deferred: scikit-image is slow to import; only building the folder needs it

    raw = getattr(data, name)()
    if name == "lfw_subset":  # [200, 25, 25] float faces -> one 10 x 20 mosaic
        faces = raw.reshape(10, 20, 25, 25).transpose(0, 2, 1, 3).reshape(250, 500)
        return {name: _resize(_to_rgb_u8(faces))}
    return {name: _resize(_to_rgb_u8(raw))}


def folder_is_intact(root: Path) -> bool:
    """Whether every file that ``root/manifest.json`` lists is there with its sha256 (a built training folder)."""
    return not manifest_problems(root)


def build_cached_folder(root: Path, fill: Callable[[Path], dict[str, Any]], force: bool = False) -> Path:
    """``root`` unless it is missing, partial or corrupt (or ``force``); else ``fill(tmp)`` writes the files into a
    fresh folder beside it and returns the manifest (its ``files``: relative path -> sha256), and that folder
    replaces ``root`` whole, so an interrupted build never leaves a half-written ``root``."""
    if not force and folder_is_intact(root):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}."))
    try:
        atomic_write_json(tmp / "manifest.json", fill(tmp))
        move_directory_into_place(tmp, root, intact=lambda: folder_is_intact(root))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def prepare_training_images(force: bool = False) -> Path:
    """Write the training images into the cache unless an intact copy is there; returns the folder."""
    def fill(tmp: Path) -> dict[str, Any]:
        files = {}
        for name in TRAIN_IMAGES:
            for stem, img in _images(name).items():
                write_image(tmp / f"{stem}.png", img)
                files[f"{stem}.png"] = sha256_file(tmp / f"{stem}.png")
        return {"version": VERSION, "source": "scikit-image data", "files": files}

    return build_cached_folder(training_images_dir(), fill, force)


def default_bank_path(bank_size: int, bank_seed: int, kernel_size: int = 33,
                      kinds: tuple[str, ...] = ("camera_shake",)) -> Path:
    """Cache path of the training kernel bank for these settings (keyed on the generator version)."""
    return (cache_dir() / "kernel_banks" /
            f"{'+'.join(kinds)}-k{kernel_size}-n{bank_size}-s{bank_seed}-v{GENERATOR_VERSION}.safetensors")


def bank_mean_kernel(bank_size: int, bank_seed: int, kernel_size: int = 33,
                     kinds: tuple[str, ...] = ("camera_shake",)) -> np.ndarray:
    """Mean kernel [K, K] of the training bank (generated and cached when absent)."""
    path = default_bank_path(bank_size, bank_seed, kernel_size, kinds)
    if not path.exists():
        KernelBank.generate(bank_size, kernel_size, bank_seed, kinds).save(path)
    return KernelBank.load(path, mmap=True).mean_kernel()


class SkimageBlurDataModule(SyntheticBlurDataModule):
    """Synthetic non-uniform blur over :data:`TRAIN_IMAGES` (see the module docstring).

    Args:
        root: None = the prepared cache folder (:func:`prepare_training_images`).
        photos: ``"debian"`` = train on :mod:`~blurbench.datamodules.debian_photos`' folder instead (natural
            photographs from Debian packages + the same scikit-image images), built in the cache when missing.
        photos_deb_dir: a folder holding those packages' ``.deb`` files, for machines without ``apt-get``.
        kernel_bank: ``"auto"`` = a bank in the cache keyed on size/seed/generator version; a path; or None
            (kernels generated on the fly).
        **kwargs: every other :class:`SyntheticBlurDataModule` argument.
    """

    def __init__(self, root: str | Path | None = None, *, kernel_bank: str | Path | None = "auto",
                 bank_size: int = 20_000, bank_seed: int = 2021, kernel_size: int = 33,
                 kernel_kinds: tuple[str, ...] = ("camera_shake",), photos: str | None = None,
                 photos_deb_dir: str | Path | None = None, **kwargs: Any) -> None:
        if photos not in (None, "debian"):
            raise ConfigError(f"photos={photos!r} is not a training photo set",
                              "use photos: debian (Debian's photographs) or leave it unset (scikit-image's images)")
        if photos is not None and root is not None:
            raise ConfigError(f"root={root} and photos={photos!r} both name the training images",
                              "give either root (your own photos) or photos, not both")
        if kernel_bank == "auto":
            kernel_bank = default_bank_path(bank_size, bank_seed, kernel_size, tuple(kernel_kinds))
        if photos == "debian":
            from blurbench.datamodules.debian_photos import debian_photos_dir  # deferred: it imports this module

            root = debian_photos_dir()
        super().__init__(root if root is not None else training_images_dir(), kernel_bank=kernel_bank,
                         bank_size=bank_size, bank_seed=bank_seed, kernel_size=kernel_size,
                         kernel_kinds=tuple(kernel_kinds), **kwargs)
        self._prepare_root = root is None or photos is not None
        self._photos, self._photos_deb_dir = photos, photos_deb_dir

    def _prepare_folder(self) -> None:
        if self._photos == "debian":
            from blurbench.datamodules.debian_photos import prepare_debian_photos  # deferred: it imports this module

            prepare_debian_photos(deb_dir=self._photos_deb_dir)
        else:
            prepare_training_images()

    def prepare_data(self) -> None:
        if self._prepare_root:
            self._prepare_folder()
        super().prepare_data()

    def _dataset(self, split: str):  # noqa: ANN202  (same as the parent's)
        if self._prepare_root and not (self.root / "manifest.json").is_file():
            self._prepare_folder()  # setup() without prepare_data() (e.g. a notebook)
        return super()._dataset(split)
