"""Shared base of the on-disk paired-image datasets (GoPro, RealBlur, HIDE, DVD frames, …).

A dataset subclass knows its official layout: :meth:`PairedDataModule.list_records` lists a split's
(blurry, sharp) files **without opening them**, in a deterministic order (sorted relative paths), with
ids = the blurry file's path relative to the dataset root (POSIX separators), so ids are stable across
machines. Everything else is shared:

- :meth:`check` / :meth:`check_all` — header-only validation, one line per problem: missing partners,
  unreadable files, size mismatches within a pair, and split counts against the official ones
  (:attr:`official_counts`). A tree with fewer items than the official release is *incomplete*; pass
  ``allow_subset=True`` (or set ``BLURBENCH_ALLOW_SUBSET=1``) to accept a consistent subset — the split
  is then labelled ``"<split> (subset n/official)"`` in leaderboards so it is never mistaken for the
  full benchmark.
- test: full frames, batch 1, exact DDP sharding (:class:`~blurbench.datamodules.base.EvaluationDataModule`).
- train: random aligned crops (``crop_size``) and flips, shuffled, ``batch_size``.

A record's ``blurry`` may be a tuple of sharp frames: the blurry image is then their average, computed on
the fly (optionally in linear light, ``gamma``) — the GoPro/GVD way of synthesising blur from
high-frame-rate video.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from blurbench.datamodules.base import EvaluationDataModule, PairedImageDataset, PairRecord, collate
from blurbench.datamodules.folder import IMAGE_SUFFIXES, image_size
from blurbench.errors import ConfigError, DataError
from blurbench.io import read_image
from blurbench.metrics.image import psnr, ssim
from blurbench.metrics.protocols import flo_size, ssim_matlab3d

__all__ = ["PairedDataModule", "PairDataset", "RandomCrop", "allow_subset_default", "check_records", "file_size",
           "load_frame", "rel_id", "sorted_images"]


def allow_subset_default() -> bool:
    return os.environ.get("BLURBENCH_ALLOW_SUBSET", "") not in ("", "0", "false", "no")


def rel_id(path: Path, root: Path) -> str:
    """Stable sample id: ``path`` relative to ``root`` with POSIX separators."""
    return path.relative_to(root).as_posix()


def sorted_images(folder: Path, suffixes: Sequence[str] | None = None) -> list[Path]:
    """Image files directly in ``folder`` (not recursive), sorted by name; [] if the folder is absent."""
    if not folder.is_dir():
        return []
    allowed = {s.lower() for s in (suffixes or IMAGE_SUFFIXES)}
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in allowed and p.is_file())


def resolve_root(root: Path, *tops: str) -> Path:
    """``root`` itself, or ``root/<top>`` when the archive's top folder (e.g. ``GOPRO_Large``) is inside it."""
    for top in tops:
        if (root / top).is_dir():
            return root / top
    return root


def load_frame(source: Path | tuple[Path, ...], gamma: float = 1.0) -> torch.Tensor:
    """Read one image [3, H, W], or average a tuple of frames (in linear light ``x ** gamma`` when gamma != 1)."""
    if isinstance(source, Path):
        return read_image(source)
    frames = [read_image(p) for p in source]
    shapes = {tuple(f.shape) for f in frames}
    if len(shapes) != 1:
        raise DataError(f"{source[0].parent}: frames {source[0].name}..{source[-1].name} differ in size",
                        "all frames of a clip must have the same size")
    stack = torch.stack(frames)
    if gamma != 1.0:
        return stack.pow(gamma).mean(0).pow(1.0 / gamma)
    return stack.mean(0)


def file_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the header of an image, ``.flo`` flow or ``.mat`` file; None if unreadable."""
    suffix = path.suffix.lower()
    if suffix == ".flo":
        return flo_size(path)
    if suffix == ".mat":
        return mat_size(path)
    return image_size(path)


def mat_size(path: Path, variable: str | None = None) -> tuple[int, int] | None:
    """(width, height) of the first (or the named) array in a MATLAB v5 ``.mat`` header; None if unreadable."""
    try:
        from scipy.io import whosmat  # deferred: scipy (.mat files only)

        entries = whosmat(str(path))
    except Exception:  # scipy raises several types for corrupt files; all mean "unreadable"
        return None
    for name, shape, _ in entries:
        if (variable is None or name == variable) and len(shape) >= 2:
            return int(shape[1]), int(shape[0])
    return None


def _sources(rec: PairRecord) -> list[Path]:
    blurry = list(rec.blurry) if isinstance(rec.blurry, tuple) else [rec.blurry]
    files = blurry + ([rec.sharp] if rec.sharp is not None else []) + list(rec.extras.get("files", ()))
    return list(dict.fromkeys(files))  # a file can play two roles (GVD: middle frame = sharp)


def check_records(records: Sequence[PairRecord], size_of: Callable[[Path], tuple[int, int] | None] | None = None
                  ) -> list[str]:
    """Missing, unreadable or size-mismatched files among ``records`` (header reads only), one line each.

    Every file of a record (blurry — or each averaged frame —, sharp, ``extras["files"]``) must exist, be
    readable and have the same width×height, except files listed in ``extras["unsized"]`` (e.g. kernels).
    Files shared by several records are opened once.
    """
    sizes: dict[Path, tuple[int, int] | None] = {}
    problems: list[str] = []
    reported: set[Path] = set()
    mismatched: set[Path] = set()

    def size(path: Path) -> tuple[int, int] | None:
        if path not in sizes:
            if not path.is_file():
                sizes[path] = None
                if path not in reported:
                    problems.append(f"{path}: missing")
                    reported.add(path)
            else:
                reader = size_of or file_size
                sizes[path] = reader(path)
                if sizes[path] is None and path not in reported:
                    problems.append(f"{path}: unreadable (corrupt or truncated)")
                    reported.add(path)
        return sizes[path]

    for rec in records:
        unsized = set(rec.extras.get("unsized", ()))
        found = [(p, size(p)) for p in _sources(rec)]
        known = [(p, s) for p, s in found if s is not None and p not in unsized]
        for path, s in known[1:]:
            if s != known[0][1] and path not in mismatched:
                mismatched.add(path)
                problems.append(f"{path}: size {s[0]}x{s[1]} differs from {known[0][0]} "
                                f"{known[0][1][0]}x{known[0][1][1]}")
    return problems


def score_pairs(restored: torch.Tensor, sharp: torch.Tensor, ssim_convention: str = "gaussian"
                ) -> list[dict[str, float]]:
    """Per-image ``{"psnr", "ssim"}`` of [N, 3, H, W] images (uint8-rounded; SSIM convention by name)."""
    s = ssim(restored, sharp) if ssim_convention == "gaussian" else ssim_matlab3d(restored, sharp)
    return [{"psnr": float(p), "ssim": float(v)} for p, v in zip(psnr(restored, sharp), s)]


class PairDataset(PairedImageDataset):
    """:class:`PairedImageDataset` that also averages frame tuples and loads ``extras`` via ``load_extras``."""

    def __init__(self, records: Sequence[PairRecord], load_extras=None, transform=None, gamma: float = 1.0) -> None:
        super().__init__(records, load_extras, transform)
        self.gamma = gamma

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        sample: dict[str, Any] = {"id": rec.id, "blurry": load_frame(rec.blurry, self.gamma)}
        if rec.sharp is not None:
            sample["sharp"] = read_image(rec.sharp)
            if sample["sharp"].shape != sample["blurry"].shape:
                raise DataError(f"{rec.sharp}: size {tuple(sample['sharp'].shape[1:])} differs from its blurry "
                                f"image {tuple(sample['blurry'].shape[1:])}", "the pair is mismatched; "
                                "re-download the dataset or run `blurbench data check NAME --root ROOT`")
        if self.load_extras is not None:
            sample.update(self.load_extras(rec))
        return self.transform(sample) if self.transform is not None else sample


class RandomCrop:
    """Same random ``size``×``size`` window (and flips) for every image-like tensor of a sample.

    Image-like: tensors whose last two dims equal the blurry image's (``[C, H, W]`` or ``[T, C, H, W]``).
    Uses torch's RNG, which the DataLoader seeds per worker and epoch.
    """

    def __init__(self, size: int, flip: bool = True) -> None:
        self.size = size
        self.flip = flip

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        h, w = sample["blurry"].shape[-2:]
        if h < self.size or w < self.size:
            raise DataError(f"{sample['id']}: {w}x{h} is smaller than the training crop {self.size}",
                            "pass a smaller crop_size")
        top = int(torch.randint(0, h - self.size + 1, (1,)))
        left = int(torch.randint(0, w - self.size + 1, (1,)))
        hflip = self.flip and bool(torch.randint(0, 2, (1,)))
        vflip = self.flip and bool(torch.randint(0, 2, (1,)))
        out = dict(sample)
        for key, value in sample.items():
            if isinstance(value, torch.Tensor) and value.ndim >= 3 and tuple(value.shape[-2:]) == (h, w):
                v = value[..., top:top + self.size, left:left + self.size]
                is_flow = key == "flow"
                if hflip:
                    v = v.flip(-1)
                    if is_flow:  # mirrored motion: negate the horizontal component
                        v = torch.cat([-v[..., :1, :, :], v[..., 1:, :, :]], dim=-3)
                if vflip:
                    v = v.flip(-2)
                    if is_flow:
                        v = torch.cat([v[..., :1, :, :], -v[..., 1:2, :, :]], dim=-3)
                out[key] = v.contiguous()
        return out


class PairedDataModule(EvaluationDataModule):
    """Base of on-disk paired datasets (see the module docstring).

    Args:
        root: dataset root (the folder the official archive unpacks into).
        split: the split :meth:`test_dataloader` serves (default :attr:`default_split`).
        allow_subset: accept split counts below the official ones (default: ``$BLURBENCH_ALLOW_SUBSET``).
        crop_size, batch_size: training crops.
        limit, exclude, num_workers: see :class:`EvaluationDataModule`.
    """

    kind = "image"
    #: split -> number of items in the official release (None: not fixed/unknown)
    official_counts: dict[str, int | None] = {}
    default_split = "test"
    train_split = "train"
    #: splits that are not part of every download (absent = 0 items, not a problem, in ``check_all``)
    optional_splits: tuple[str, ...] = ()
    #: gamma of the on-the-fly frame average (records whose blurry is a tuple of frames)
    gamma: float = 1.0

    #: archive top folders that may sit inside the given root (``root/<top>`` is then the dataset root)
    top_folders: tuple[str, ...] = ()

    def __init__(self, root: str | Path, split: str | None = None, *, allow_subset: bool | None = None,
                 ssim_convention: str = "gaussian", crop_size: int = 256, batch_size: int = 8,
                 limit: int | None = None, exclude: Sequence[str] = (), num_workers: int = 0) -> None:
        super().__init__(limit=limit, exclude=exclude, num_workers=num_workers)
        if root is None:
            raise ConfigError(f"dataset {self.name} reads files from disk", "pass --data-root / --root PATH")
        self.root = resolve_root(Path(root).expanduser(), *self.top_folders)
        if ssim_convention not in ("gaussian", "matlab3d"):
            raise ConfigError(f"unknown ssim_convention '{ssim_convention}'", "choose 'gaussian' or 'matlab3d'")
        self.ssim_convention = ssim_convention
        if type(self).protocol == EvaluationDataModule.protocol:
            self.protocol = ("psnr-ssim (uint8 RGB; SSIM per-channel Gaussian)" if ssim_convention == "gaussian"
                             else "psnr-ssim (uint8 RGB; SSIM MATLAB 3-D volume)")
        self._split = split or self.default_split
        if self._split not in self.splits():
            raise ConfigError(f"{self.name} has no split '{self._split}'", f"choose one of: {', '.join(self.splits())}")
        self.allow_subset = allow_subset_default() if allow_subset is None else allow_subset
        self.crop_size = crop_size
        self.batch_size = batch_size
        self._records: dict[str, list[PairRecord]] = {}

    # ---------------------------------------------------------------------------- what subclasses write
    def splits(self) -> list[str]:
        return list(self.official_counts)

    def list_clips(self, split: str) -> dict[str, list[PairRecord]]:
        """Video datasets: clip name -> its frames in temporal order (lists files, never opens them)."""
        raise NotImplementedError(f"{type(self).__name__} is not a video dataset")

    def list_records(self, split: str) -> list[PairRecord]:
        """Records of ``split`` in evaluation order; lists files, never opens them; may raise DataError.

        The default flattens :meth:`list_clips` (clips sorted by name, frames in order).
        """
        clips = self.list_clips(split)
        return [rec for name in sorted(clips) for rec in clips[name]]

    def load_extras(self, rec: PairRecord) -> dict[str, Any]:
        return {}

    def score(self, restored: torch.Tensor, batch: dict[str, Any]) -> list[dict[str, float]]:
        """PSNR and SSIM (the convention chosen by ``ssim_convention``) per image."""
        if "sharp" not in batch:
            raise ConfigError(f"{self.name} split '{self._split}' has no ground truth",
                              "score a split with ground truth, or use `blurbench predict`")
        return score_pairs(restored, batch["sharp"], self.ssim_convention)

    def extra_problems(self, split: str) -> list[str]:
        """Layout problems beyond the records (e.g. a missing list file); default none."""
        return []

    # -------------------------------------------------------------------------------------- shared
    def records(self, split: str) -> list[PairRecord]:
        if split not in self._records:
            self._records[split] = self.list_records(split)
        return self._records[split]

    def _root_problem(self) -> list[str]:
        if not self.root.is_dir():
            return [f"{self.root}: dataset root not found"]
        return []

    def count_problem(self, split: str, count: int) -> str | None:
        official = self.official_counts.get(split)
        if count == 0:
            return f"{self.root}: split '{split}' has no items (expected the {self.name} layout)"
        if official is None or count == official or (self.allow_subset and count < official):
            return None
        return f"{self.root}: split '{split}' has {count} items, official count is {official}"

    def check_split(self, split: str) -> tuple[int, list[str]]:
        """(item count, problems) of one split."""
        problems = self._root_problem()
        if problems:
            return 0, problems
        try:
            recs = self.records(split)
        except DataError as err:
            return 0, [err.message]
        problems = self.extra_problems(split) + self.check_files(recs)
        count_line = self.count_problem(split, len(recs))
        if count_line:
            problems.append(count_line)
        return len(recs), problems

    def check_files(self, records: Sequence[PairRecord]) -> list[str]:
        return check_records(records)

    def check(self) -> list[str]:
        """Problems of the split this module evaluates (see :meth:`check_all` for every split)."""
        return self.check_split(self._split)[1]

    def check_all(self) -> tuple[dict[str, int], list[str]]:
        counts, problems = {}, []
        for split in self.splits():
            counts[split], found = self.check_split(split)
            if split in self.optional_splits and split != self._split and counts[split] == 0:
                continue
            problems += [p for p in found if p not in problems]
        return counts, problems

    @property
    def split_name(self) -> str:
        """The split this module serves (``split`` is its leaderboard label)."""
        return self._split

    @property
    def split(self) -> str:  # type: ignore[override]
        """The split as shown in leaderboards: marks subsets of the official split."""
        official = self.official_counts.get(self._split)
        try:
            n = len(self.records(self._split))
        except DataError:
            return self._split
        return self._split if official is None or n >= official else f"{self._split} (subset {n}/{official})"

    def make_dataset(self, records: Sequence[PairRecord], transform=None) -> Dataset:
        return PairDataset(records, self.load_extras, transform, gamma=self.gamma)

    def build_test_dataset(self) -> Dataset:
        return self.make_dataset(self.records(self._split))

    def setup(self, stage: str | None = None) -> None:
        if stage == "fit":
            return
        super().setup(stage)

    def make_train_dataset(self, split: str) -> Dataset:
        """Random-crop training samples of ``split`` (video datamodules return windows instead)."""
        return self.make_dataset(self.records(split), transform=RandomCrop(self.crop_size))

    def train_dataloader(self) -> DataLoader:
        split = self.train_split
        if split not in self.splits():
            raise ConfigError(f"{self.name} has no training split", "train on another dataset")
        problems = self.check_split(split)[1]
        if problems:
            raise DataError(problems[0], f"run `blurbench data check {self.name} --root {self.root}`")
        ds = self.make_train_dataset(split)
        return DataLoader(ds, batch_size=self.batch_size, shuffle=True, drop_last=True, num_workers=self.num_workers,
                          collate_fn=collate, persistent_workers=self.num_workers > 0)
