"""Sharp-image sources of the synthetic blur data: ADE20K (ADEChallengeData2016) and BSD500.

ADE20K: ``[ADEChallengeData2016/]images/{training,validation}/ADE_*.jpg`` with class-id label maps
``annotations/{training,validation}/ADE_*.png``; 20,210 / 2,000 images. BSD500:
``[BSR/BSDS500/data/]images/{train,val,test}/*.jpg`` (200 / 100 / 200) with ``groundTruth/<split>/*.mat``.

Here they are *checked* (every image readable, every label map present and of the image's size) and
*served* through :class:`blurbench.datamodules.synthetic.SyntheticBlurDataModule`
(:func:`synthetic_datamodule`). For ``evaluate`` the validation (ADE20K) / test (BSD500) images are blurred
deterministically (seeded per item) with a ground-truth field; ``sharp`` is the centre crop aligned with
``blurry`` and the sample carries ``kernels`` / ``mixing`` like the built-in ``motion`` set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.download import DownloadSpec, Source, register_download
from blurbench.datamodules.paired import PairedDataModule, rel_id, sorted_images
from blurbench.datamodules.synthetic import SyntheticBlurDataModule, SyntheticBlurDataset, SyntheticItem
from blurbench.errors import ConfigError, DataError

ADE_SPLITS = {"train": "training", "val": "validation"}
ADE_COUNTS = {"train": 20_210, "val": 2_000}
BSD_COUNTS = {"train": 200, "val": 100, "test": 200}


class _SyntheticEval(Dataset):
    """Deterministic synthetic pairs with the sharp crop aligned to the blurry one (valid convention)."""

    def __init__(self, items, crop_size: int | None, kernel_size: int, seed: int) -> None:
        self.inner = SyntheticBlurDataset(items, train=False, crop_size=crop_size, kernel_size=kernel_size, seed=seed)
        self.records = [PairRecord(it.id, it.image) for it in items]
        self.margin = kernel_size // 2

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = dict(self.inner[index])
        m = self.margin
        s["sharp"] = s["sharp"][:, m:s["sharp"].shape[1] - m, m:s["sharp"].shape[2] - m].contiguous()
        s.pop("weights", None)
        return s


class SharpSource(PairedDataModule):
    """Base: images (no pairs) with optional label maps; ``evaluate`` blurs them synthetically."""

    gt_field = True  # each sample carries the synthetic field it was blurred with

    eval_split = "val"
    protocol = "psnr-ssim (synthetic non-uniform blur, seeded per image; SSIM per-channel Gaussian)"

    def __init__(self, root: str | Path, split: str | None = None, *, eval_crop_size: int | None = 256,
                 kernel_size: int = 33, seed: int = 0, **kwargs: Any) -> None:
        self.eval_crop_size, self.kernel_size, self.seed = eval_crop_size, kernel_size, seed
        super().__init__(root, split, **kwargs)

    def image_dir(self, split: str) -> Path:
        raise NotImplementedError

    def label_path(self, split: str, image: Path) -> Path | None:
        return None

    def list_records(self, split: str) -> list[PairRecord]:
        folder = self.image_dir(split)
        if not folder.is_dir():
            raise DataError(f"{folder}: not found", f"expected the {self.name} layout (see `blurbench data list`)")
        records = []
        for p in sorted_images(folder):
            label = self.label_path(split, p)
            records.append(PairRecord(rel_id(p, self.root), p, None, {"files": (label,)} if label else {}))
        return records

    def build_test_dataset(self) -> Dataset:
        items = [SyntheticItem(r.id, r.blurry, self.label_path(self.split_name, r.blurry))
                 for r in self.records(self.split_name)]
        return _SyntheticEval(items, self.eval_crop_size, self.kernel_size, self.seed)

    def synthetic_datamodule(self, **kwargs: Any):
        """A :class:`SyntheticBlurDataModule` over this (checked) tree; kwargs go to it."""
        counts, problems = self.check_all()
        if problems:
            raise DataError(problems[0], f"run `blurbench data check {self.name} --root {self.root}`")
        return SyntheticBlurDataModule(self.synthetic_root(), **kwargs)

    def synthetic_root(self) -> Path:
        return self.root

    def train_dataloader(self):
        raise ConfigError(f"{self.name} holds sharp images only",
                          "train on synthetic pairs: synthetic_datamodule(...) / SyntheticBlurDataModule")


class ADE20K(SharpSource):
    name = "ade20k"
    official_counts = ADE_COUNTS
    default_split = "val"
    top_folders = ("ADEChallengeData2016",)

    def image_dir(self, split: str) -> Path:
        return self.root / "images" / ADE_SPLITS[split]

    def label_path(self, split: str, image: Path) -> Path | None:
        return self.root / "annotations" / ADE_SPLITS[split] / (image.stem + ".png")


class BSD500(SharpSource):
    name = "bsd500"
    official_counts = BSD_COUNTS
    default_split = "test"
    top_folders = ("BSR/BSDS500/data", "BSDS500/data")

    def image_dir(self, split: str) -> Path:
        return self.root / "images" / split

    def synthetic_root(self) -> Path:
        return self.root / "images" / "train"


def ade20k_datamodule(root: str | Path, **kwargs: Any):
    """Check an ADE20K tree, then return the synthetic blur datamodule of Carbajal et al. over it."""
    return ADE20K(root).synthetic_datamodule(**kwargs)


register_download(DownloadSpec(
    "ade20k", sources=(Source("http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip"),),
    licence="ADE20K terms of use (research)", homepage="https://groups.csail.mit.edu/vision/datasets/ADE20K/",
))
register_download(DownloadSpec(
    "bsd500", sources=(Source(
        "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"),),
    licence="research use", homepage="https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/resources.html",
))
