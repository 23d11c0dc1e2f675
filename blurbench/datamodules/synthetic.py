"""Synthetic non-uniform motion blur over any folder of sharp images (Carbajal et al. 2021, §3.3).

Layouts (detected from ``root``):

- ADE20K (``ADEChallengeData2016``): ``images/{training,validation}/*.jpg`` with class-id label maps
  ``annotations/{training,validation}/<stem>.png``. Train uses ``training``; val *and* test use
  ``validation`` (ADE20K's test release has no labels). Segments to blur come from the label maps
  (connected class components >= ``min_segment_area`` px, class 0 "unlabelled" skipped); an
  ``annotations`` folder with a missing label file is an error, not a silent fallback.
- Any other folder: every image below ``root`` (recursive); a seeded permutation of the sorted list
  holds out ``val_fraction`` of them for val (= test). Segments are random smooth blobs.

A sample (the 'valid' convention of the paper's training code, K = kernel size)::

    sharp    [3, H + K - 1, W + K - 1]  the sharp crop, display space, float32 in [0, 1]
    blurry   [3, H, W]                  reblur(sharp, kernels, mixing, "valid") (+ noise), clamped to [0, 1]
    kernels  [B, K, K]                  B = num_kernels (default 1 + max_segments), padded with deltas
    mixing   [B, H, W]                  sums to 1 over B per pixel
    weights  [H, W]                     per-pixel loss weights (blurbench.ops.regions.loss_weights)
    id       str                        image path relative to root

Train samples a random crop (H = W = ``crop_size``) and a fresh field every time an item is read;
val/test take the centre crop (``eval_crop_size``) or, with ``eval_crop_size=None``, the full frame
(output (h - K + 1) x (w - K + 1)), with a field seeded from the item index, so they never change.
Images smaller than the sharp crop are upscaled (bilinear; labels nearest) to fit.

Training sources (train split only; val/test are never altered): ``dead_leaves`` is the share of train samples
whose sharp crop is a seeded dead-leaves image (:func:`blurbench.ops.dead_leaves.dead_leaves`, an unlimited
source of colour textured images) instead of a crop of a file; ``augment`` flips/rotates crops and changes
their colours (channel permutation, per-channel gains, saturation), which gives grey photos colour; crops whose
:func:`texture` (mean absolute grey-level difference of neighbours) is below ``min_texture`` (flat sky, empty
background, smooth gradients) are redrawn from a random image (up to ``max_redraws`` times). ``quantize``
rounds the blurry image to 8 bits, as the built-in benchmark's PNGs are. ``builtin_val`` (e.g. ``"motion"``)
makes the val loader serve that built-in dataset's ``val`` split (held-out photos, same generator as the
benchmark) instead of the held-out share of ``root``.

``gamma != 1`` blurs in linear light: ``blurry = reblur(sharp ** gamma) ** (1 / gamma)`` (the authors'
``gamma_correction`` option, with gamma 2.2); the exact forward model then holds for ``sharp ** gamma`` and
``blurry ** gamma``. Noise (``noise_sigma``, Gaussian, in display space) is added after that.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from blurbench.errors import DataError
from blurbench.ops.dead_leaves import dead_leaves
from blurbench.ops.kernels import GENERATOR_VERSION, KernelBank
from blurbench.ops.reblur import reblur
from blurbench.ops.regions import sample_blur_field

__all__ = ["IMAGE_SUFFIXES", "DrawsWithReplacement", "SyntheticBlurDataModule", "SyntheticBlurDataset",
           "SyntheticDataError", "SyntheticDataMissing", "SyntheticItem", "find_items"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_ADE_SPLITS = {"train": "training", "val": "validation", "test": "validation"}

# OpenCV would start its own thread pool in every DataLoader worker; parallelism comes from the workers.
cv2.setNumThreads(1)


class SyntheticDataError(DataError, ValueError):
    """The data folder or one of its files is empty, unreadable or inconsistent."""


class SyntheticDataMissing(DataError, FileNotFoundError):
    """The data folder or a file it should contain does not exist."""


@dataclass(frozen=True)
class SyntheticItem:
    """One sharp image (and its optional label map) with its stable id (path relative to the root)."""

    id: str
    image: Path
    labels: Path | None = None


# ----------------------------------------------------------------------------------------------- files
def _images_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def find_items(root: str | Path, split: str, *, val_fraction: float = 0.1, split_seed: int = 0,
               use_annotations: bool = True) -> list[SyntheticItem]:
    """Items of ``split`` ("train", "val", "test") under ``root`` (see the module docstring for layouts)."""
    if split not in _ADE_SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {tuple(_ADE_SPLITS)}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SyntheticDataMissing(f"{root}: image folder not found",
                                   "pass an existing folder of sharp images (or an ADE20K root)")
    ade_images = root / "images" / _ADE_SPLITS[split]
    if (root / "images" / "training").is_dir() or (root / "images" / "validation").is_dir():
        if not ade_images.is_dir():
            raise SyntheticDataMissing(f"{ade_images}: ADE20K split folder not found",
                                       "the ADE20K layout needs images/training and images/validation")
        images = _images_below(ade_images)
        ann_dir = root / "annotations" / _ADE_SPLITS[split]
        if not use_annotations or not ann_dir.is_dir():
            ann_dir = None
        items = []
        for img in images:
            labels = None
            if ann_dir is not None:
                labels = ann_dir / img.relative_to(ade_images).with_suffix(".png")
                if not labels.is_file():
                    raise SyntheticDataMissing(
                        f"{labels}: label map of {img} not found",
                        "restore the file, or pass use_annotations=False to use random regions instead",
                    )
            items.append(SyntheticItem(img.relative_to(root).as_posix(), img, labels))
        if not items:
            raise SyntheticDataError(f"{ade_images}: no images ({', '.join(IMAGE_SUFFIXES)})",
                                     "add the ADE20K images or point root at another folder")
        return items
    images = _images_below(root)
    if not images:
        raise SyntheticDataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) found below it",
                                 "point root at a folder containing sharp images")
    n = len(images)
    n_val = 0 if val_fraction <= 0 else min(max(1, round(n * val_fraction)), max(n - 1, 1))
    order = np.random.default_rng(split_seed).permutation(n)  # stable for a given file list
    held = set(order[:n_val].tolist())
    if split == "train":
        keep = [i for i in range(n) if i not in held] or list(range(n))  # a 1-image folder serves both
    else:
        keep = sorted(held)
    return [SyntheticItem(images[i].relative_to(root).as_posix(), images[i]) for i in keep]


def _read_rgb(path: Path) -> np.ndarray:
    """HWC uint8 RGB (grey and 16-bit files are converted by OpenCV)."""
    if not path.is_file():
        raise SyntheticDataMissing(f"{path}: image not found", "the folder changed after setup(); rerun it")
    arr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if arr is None:
        raise SyntheticDataError(f"{path}: unreadable image",
                                 "the file is corrupt or not an image; delete it")
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def _read_labels(path: Path) -> np.ndarray:
    """Class-id map int32 [H, W]; colour-coded PNGs get one id per distinct colour."""
    if not path.is_file():
        raise SyntheticDataMissing(f"{path}: label map not found", "restore it or disable annotations")
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise SyntheticDataError(f"{path}: unreadable label map", "the file is corrupt; restore it")
    if arr.ndim == 3:
        arr = arr[..., :3].astype(np.int32)
        return (arr[..., 0] << 16) | (arr[..., 1] << 8) | arr[..., 2]
    return arr.astype(np.int32)


def texture(image: np.ndarray) -> float:
    """Mean absolute difference between neighbouring grey levels of a uint8 RGB image, in [0, 1] units.

    The flat-crop test: low for sky, empty background and smooth gradients (which a grey-level standard
    deviation would pass), whatever their brightness.
    """
    g = image.astype(np.float32).mean(axis=2) / 255.0
    return float((np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean()) / 2)


def _augment(image: np.ndarray, labels: np.ndarray | None, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """Random flip / 90° rotation (same for the labels) and colour change of a uint8 RGB crop.

    Colour: channel permutation, per-channel gains in [0.7, 1.3] and a saturation factor in [0.5, 1.5] about the
    grey level; grey images (equal channels) get a colour cast from the gains.
    """
    turns, flip = int(rng.integers(4)), bool(rng.integers(2))
    image = np.rot90(image, turns)
    labels = None if labels is None else np.rot90(labels, turns)
    if flip:
        image = image[:, ::-1]
        labels = None if labels is None else labels[:, ::-1]
    x = image[..., rng.permutation(3)].astype(np.float32) / 255.0
    x = x * rng.uniform(0.7, 1.3, 3).astype(np.float32)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * np.float32(rng.uniform(0.5, 1.5))
    out = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    return out, None if labels is None else np.ascontiguousarray(labels)


# --------------------------------------------------------------------------------------------- dataset
class SyntheticBlurDataset(Dataset):
    """Blurs sharp images with sampled ground-truth blur fields (see the module docstring).

    Args:
        items: the images (see :func:`find_items`).
        train: random crops and fresh fields per read (True) or deterministic per index (False).
        crop_size: blurry crop side; None (eval only) uses the full frame.
        num_kernels: fixed B; None means ``1 + max_segments``.
        bank: kernels drawn from this bank; None generates ``kernel_kinds`` on the fly.
        seed: base seed of the deterministic (eval) fields and of the train stream.
    """

    def __init__(
        self, items: Sequence[SyntheticItem], *, train: bool, crop_size: int | None = 256,
        kernel_size: int = 33, max_segments: int = 3, num_kernels: int | None = None,
        min_segment_area: int = 400, bank: KernelBank | None = None,
        kernel_kinds: Sequence[str] = ("camera_shake",), noise_sigma: float = 0.0, gamma: float = 1.0,
        seed: int = 0, dead_leaves: float = 0.0, dead_leaves_args: dict[str, Any] | None = None,
        augment: bool = False, min_texture: float = 0.0, max_redraws: int = 10, quantize: bool = False,
        segment_kinds: Sequence[str] | None = None, sharp_prob: float = 0.0,
    ) -> None:
        if not 0.0 <= dead_leaves <= 1.0:
            raise ValueError(f"dead_leaves is a share of samples in [0, 1], got {dead_leaves}")
        if train and crop_size is None:
            raise ValueError("training needs a fixed crop_size so samples stack into batches")
        if gamma <= 0 or noise_sigma < 0:
            raise ValueError(f"need gamma > 0 and noise_sigma >= 0, got {gamma}, {noise_sigma}")
        self.items = list(items)
        self.train = train
        self.crop_size = crop_size
        self.kernel_size = kernel_size
        self.max_segments = max_segments
        self.num_kernels = 1 + max_segments if num_kernels is None else num_kernels
        self.min_segment_area = min_segment_area
        self.bank = bank
        self.kernel_kinds = tuple(kernel_kinds)
        self.noise_sigma = noise_sigma
        self.gamma = gamma
        self.seed = seed
        self.rank = 0  # the DDP rank reading it (train streams differ per rank); set by the datamodule
        self.dead_leaves = dead_leaves if train else 0.0
        self.dead_leaves_args = dict(dead_leaves_args or {})
        self.augment = augment and train
        self.min_texture = min_texture if train else 0.0
        self.max_redraws = max_redraws
        self.quantize = quantize
        self.segment_kinds = None if segment_kinds is None else tuple(segment_kinds)
        self.sharp_prob = sharp_prob

    def __len__(self) -> int:
        return len(self.items)

    def _rng(self, index: int) -> np.random.Generator:
        if not self.train:
            return np.random.default_rng([self.seed, index])
        # The DataLoader seeds torch's RNG per worker from a base seed it redraws every epoch (and
        # seed_everything makes that reproducible), so one draw from it gives a stream that differs per
        # epoch, worker and read, without relying on numpy's global state (duplicated across forked workers).
        # Under DDP every rank starts from the same seed: its rank keeps two ranks drawing the same index from
        # producing the same crop and field (rank 0, and a single process, keep the single-process stream).
        stream = int(torch.randint(0, 2**62, (1,)).item())
        return np.random.default_rng([self.seed, stream, index, *([self.rank] if self.rank else [])])

    def _fit(self, image: np.ndarray, labels: np.ndarray | None, need: int, path: Path
             ) -> tuple[np.ndarray, np.ndarray | None]:
        h, w = image.shape[:2]
        if labels is not None and labels.shape != (h, w):
            raise SyntheticDataError(f"{path}: image is {h}x{w} but its label map is "
                                     f"{labels.shape[0]}x{labels.shape[1]}", "fix or remove the pair")
        if h >= need and w >= need:
            return image, labels
        scale = max(need / h, need / w)
        size = (max(need, round(w * scale)), max(need, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        if labels is not None:
            labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
        return image, labels

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.items[index]
        rng = self._rng(index)
        k = self.kernel_size
        labels = None
        if self.dead_leaves and rng.random() < self.dead_leaves:
            need = self.crop_size + k - 1
            # the leaves are a function of one seed drawn from the sample's stream (reproducible per sample)
            sharp = dead_leaves(need, need, int(rng.integers(2**62)), **self.dead_leaves_args)
            item_id = "dead-leaves"
        else:
            sharp, labels = self._crop(item, rng)
            for _ in range(self.max_redraws if self.min_texture > 0 else 0):
                if texture(sharp) >= self.min_texture:
                    break
                item = self.items[int(rng.integers(len(self.items)))]
                sharp, labels = self._crop(item, rng)
            item_id = item.id
        if self.augment:
            sharp, labels = _augment(sharp, labels, rng)
        ho, wo = sharp.shape[0] - k + 1, sharp.shape[1] - k + 1
        # labels are at the sharp ('valid') size: sample_blur_field centre-crops them to the output grid
        field = sample_blur_field(
            ho, wo, rng=rng, kernel_size=k, max_segments=self.max_segments, num_kernels=self.num_kernels,
            segmentation=labels, bank=self.bank, min_segment_area=self.min_segment_area,
            kernel_kinds=self.kernel_kinds, segment_kinds=self.segment_kinds, sharp_prob=self.sharp_prob,
        )
        sharp_t = torch.from_numpy(np.ascontiguousarray(sharp.transpose(2, 0, 1))).float().div_(255.0)
        kernels = torch.from_numpy(field.kernels)
        mixing = torch.from_numpy(field.mixing)
        linear = sharp_t.pow(self.gamma) if self.gamma != 1 else sharp_t
        with torch.no_grad():
            blurry = reblur(linear[None], kernels[None], mixing[None], padding="valid")[0]
        if self.gamma != 1:
            blurry = blurry.clamp_min(0).pow(1.0 / self.gamma)
        if self.noise_sigma > 0:
            noise = rng.standard_normal(blurry.shape, dtype=np.float32)
            blurry = blurry + self.noise_sigma * torch.from_numpy(noise)
        blurry = blurry.clamp_(0.0, 1.0)
        if self.quantize:
            blurry = blurry.mul_(255.0).round_().div_(255.0)
        return {
            "sharp": sharp_t, "blurry": blurry, "kernels": kernels, "mixing": mixing,
            "weights": torch.from_numpy(field.weights), "id": item_id,
        }

    def _crop(self, item: SyntheticItem, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """The sharp crop (and its labels) of ``item``: random in training, centred otherwise."""
        k = self.kernel_size
        image = _read_rgb(item.image)
        labels = _read_labels(item.labels) if item.labels is not None else None
        if self.crop_size is None:  # full frame: an output of at least K x K
            return self._fit(image, labels, 2 * k - 1, item.image)
        need = self.crop_size + k - 1
        image, labels = self._fit(image, labels, need, item.image)
        h, w = image.shape[:2]
        if self.train:
            y0, x0 = int(rng.integers(0, h - need + 1)), int(rng.integers(0, w - need + 1))
        else:
            y0, x0 = (h - need) // 2, (w - need) // 2
        sharp = image[y0:y0 + need, x0:x0 + need]
        return sharp, None if labels is None else labels[y0:y0 + need, x0:x0 + need]


class DrawsWithReplacement(Sampler[int]):
    """``num_samples`` indices drawn with replacement per epoch (a ``RandomSampler(replacement=True)`` stream).

    A class of its own because under DDP Lightning *replaces* a RandomSampler by a DistributedSampler over the
    dataset (one pass over the images: ``samples_per_epoch`` is lost) but *wraps* any other sampler, so each
    rank gets its 1/world_size share of the ``num_samples`` draws of an epoch.
    """

    def __init__(self, data_source: Dataset, num_samples: int) -> None:
        self.draws = RandomSampler(data_source, replacement=True, num_samples=num_samples)

    def __iter__(self) -> Iterator[int]:
        return iter(self.draws)

    def __len__(self) -> int:
        return len(self.draws)


# ------------------------------------------------------------------------------------------ datamodule
class SyntheticBlurDataModule(L.LightningDataModule):
    """Train/val/test loaders of synthetically blurred images from ``root`` (see the module docstring).

    Args:
        root: ADE20K root or any folder of sharp images.
        crop_size: train blurry crop (the sharp crop is ``crop_size + K - 1``).
        eval_crop_size: val/test centre crop; None = full frames (use ``eval_batch_size=1``).
        kernel_bank: path of a kernel bank file; reused when present, else generated (``bank_size`` kernels,
            ``bank_seed``, ``kernel_kinds``, ``bank_workers`` processes) and saved there. None: kernels are
            generated on the fly.
        samples_per_epoch: draw this many train items per epoch with replacement (as the authors did: 6000);
            None = one pass over the shuffled images.
        val_fraction: share of a plain folder held out for val/test (ignored for ADE20K).
        dead_leaves, dead_leaves_args, augment, min_texture, quantize: training sources and augmentation (see the
            module docstring); the defaults change nothing.
        builtin_val: serve this built-in dataset's ``val`` split as the val loader (batch 1, full images).
        segment_kinds, sharp_prob: moving objects with their own kernel kinds, and regions left sharp (every
            split; :func:`blurbench.ops.regions.sample_blur_field`). The defaults are the paper's §3.3 data.
    """

    def __init__(
        self, root: str | Path, *, crop_size: int = 256, eval_crop_size: int | None = 256,
        kernel_size: int = 33, max_segments: int = 3, num_kernels: int | None = None,
        min_segment_area: int = 400, kernel_kinds: Sequence[str] = ("camera_shake",),
        kernel_bank: str | Path | None = None, bank_size: int = 100_000, bank_seed: int = 0,
        bank_workers: int = 1, noise_sigma: float = 0.0, gamma: float = 1.0, val_fraction: float = 0.1,
        use_annotations: bool = True, batch_size: int = 4, eval_batch_size: int | None = None,
        num_workers: int = 0, samples_per_epoch: int | None = None, seed: int = 0,
        dead_leaves: float = 0.0, dead_leaves_args: dict[str, Any] | None = None, augment: bool = False,
        min_texture: float = 0.0, quantize: bool = False, builtin_val: str | None = None,
        segment_kinds: Sequence[str] | None = None, sharp_prob: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.root = Path(root).expanduser()
        self.kernel_bank = None if kernel_bank is None else Path(kernel_bank).expanduser()
        self.datasets: dict[str, SyntheticBlurDataset] = {}
        self._bank: KernelBank | None = None

    # ------------------------------------------------------------------------------------------ bank
    def _ensure_bank(self) -> None:
        """Generate and save the bank file if it is configured but absent (atomic write: race-safe)."""
        hp = self.hparams
        if self.kernel_bank is not None and not self.kernel_bank.exists():
            KernelBank.generate(hp.bank_size, hp.kernel_size, hp.bank_seed, hp.kernel_kinds,
                                workers=hp.bank_workers).save(self.kernel_bank)

    def _load_bank(self) -> KernelBank | None:
        if self.kernel_bank is None:
            return None
        self._ensure_bank()
        bank = KernelBank.load(self.kernel_bank, mmap=True)
        if bank.size != self.hparams.kernel_size:
            raise SyntheticDataError(
                f"{self.kernel_bank}: holds {bank.size}x{bank.size} kernels, kernel_size is "
                f"{self.hparams.kernel_size}", "pass a matching kernel_size or another kernel_bank path",
            )
        version = bank.metadata.get("generator_version")
        if version != GENERATOR_VERSION:
            warnings.warn(f"{self.kernel_bank}: built by kernel generator v{version}, current is "
                          f"v{GENERATOR_VERSION}; delete it to regenerate", stacklevel=2)
        return bank

    # ----------------------------------------------------------------------------------------- hooks
    def prepare_data(self) -> None:
        find_items(self.root, "train", val_fraction=self.hparams.val_fraction)  # fail early, one line
        self._ensure_bank()

    def _dataset(self, split: str) -> SyntheticBlurDataset:
        if split not in self.datasets:
            hp = self.hparams
            items = find_items(self.root, split, val_fraction=hp.val_fraction,
                               use_annotations=hp.use_annotations)
            train = split == "train"
            if self._bank is None and self.kernel_bank is not None:
                self._bank = self._load_bank()
            self.datasets[split] = SyntheticBlurDataset(
                items, train=train, crop_size=hp.crop_size if train else hp.eval_crop_size,
                kernel_size=hp.kernel_size, max_segments=hp.max_segments, num_kernels=hp.num_kernels,
                min_segment_area=hp.min_segment_area, bank=self._bank, kernel_kinds=hp.kernel_kinds,
                noise_sigma=hp.noise_sigma, gamma=hp.gamma, seed=hp.seed, quantize=hp.quantize,
                segment_kinds=hp.segment_kinds, sharp_prob=hp.sharp_prob,
                **({"dead_leaves": hp.dead_leaves, "dead_leaves_args": hp.dead_leaves_args, "augment": hp.augment,
                    "min_texture": hp.min_texture} if train else {}),
            )
        return self.datasets[split]

    def setup(self, stage: str | None = None) -> None:
        splits = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}
        for split in splits.get(stage, ("train", "val", "test")) if stage else ("train", "val", "test"):
            self._dataset(split)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        hp = self.hparams
        ds = self._dataset(split)
        ds.rank = self.trainer.global_rank if self.trainer is not None else 0
        sampler = None
        if split == "train" and hp.samples_per_epoch is not None:
            sampler, shuffle = DrawsWithReplacement(ds, hp.samples_per_epoch), False
        batch = hp.batch_size if split == "train" else (hp.eval_batch_size or hp.batch_size)
        return DataLoader(ds, batch_size=batch, shuffle=shuffle, sampler=sampler, num_workers=hp.num_workers,
                          persistent_workers=hp.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        if self.hparams.builtin_val:
            # deferred: the built-in benchmark's generators are needed only with builtin_val
            from blurbench.datamodules.base import collate
            from blurbench.datamodules.builtin import BuiltinImageDataModule, prepare

            prepare(self.hparams.builtin_val, split="val")
            ds = BuiltinImageDataModule(self.hparams.builtin_val, split="val").build_test_dataset()
            return DataLoader(ds, batch_size=1, shuffle=False, collate_fn=collate)  # sizes differ per photo
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
