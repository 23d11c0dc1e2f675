"""GoPro (Nah, Kim, Lee, CVPR 2017; ``GOPRO_Large``, CC BY 4.0).

Layout: ``[GOPRO_Large/]{train,test}/GOPRxxxx_xx_xx/{blur,blur_gamma,sharp}/NNNNNN.png``, 1280×720;
22 train / 11 test sequences, 2103 / 1111 pairs. Benchmarks use ``blur/`` (frames averaged in display
space); ``blur_gamma/`` (averaged in linear light) scores ≈3 dB differently and is selectable with
``variant="blur_gamma"``. Ids: ``test/GOPR0384_11_00/blur/000001.png``. Sequences double as video clips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.download import DownloadSpec, Source, register_download
from blurbench.datamodules.paired import PairedDataModule, rel_id, sorted_images
from blurbench.datamodules.video import video_variant
from blurbench.errors import ConfigError, DataError

VARIANTS = ("blur", "blur_gamma")
OFFICIAL_COUNTS = {"train": 2103, "test": 1111}


class GoPro(PairedDataModule):
    name = "gopro"
    official_counts = OFFICIAL_COUNTS
    top_folders = ("GOPRO_Large",)

    def __init__(self, root: str | Path, split: str | None = None, *, variant: str = "blur", **kwargs: Any) -> None:
        if variant not in VARIANTS:
            raise ConfigError(f"unknown GoPro variant '{variant}'", f"choose one of: {', '.join(VARIANTS)}")
        self.variant = variant
        super().__init__(root, split, **kwargs)

    def list_clips(self, split: str) -> dict[str, list[PairRecord]]:
        base = self.root / split
        if not base.is_dir():
            raise DataError(f"{base}: not found",
                            "expected GOPRO_Large/{train,test}/GOPRxxxx_xx_xx/{blur,blur_gamma,sharp}/")
        clips = {}
        for seq in sorted(p for p in base.iterdir() if p.is_dir()):
            # the union of both sides, so a file missing on either side is reported, not silently skipped
            names = sorted({p.name for p in sorted_images(seq / self.variant)} | {p.name for p in
                                                                                 sorted_images(seq / "sharp")})
            clips[seq.name] = [PairRecord(rel_id(seq / self.variant / n, self.root), seq / self.variant / n,
                                          seq / "sharp" / n) for n in names]
        return clips


GoProVideo = video_variant(GoPro, "gopro-video")

register_download(DownloadSpec(
    "gopro",
    # The Hub mirror first (file name in snah/GOPRO_Large unverified), then the authors' server; no sha256 is
    # published for either, so the digest measured at download time is recorded instead.
    sources=(Source("hf://datasets/snah/GOPRO_Large/GOPRO_Large.zip",
                    mirrors=("https://cv.snu.ac.kr/~snah/Deblur/dataset/GOPRO_Large.zip",)),),
    licence="CC BY 4.0", homepage="https://seungjunnah.github.io/Datasets/gopro.html",
))
