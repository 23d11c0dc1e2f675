"""DVD — Deep Video Deblurring (Su et al., CVPR 2017; ``shuochsu/DeepVideoDeblurring``).

Layout: ``[DeepVideoDeblurring_Dataset/]quantitative_datasets/<video>/{GT,input}/NNNNN.jpg`` — 71 videos,
6708 frame pairs, of which the 10 test videos below hold 1000; ``qualitative_datasets/<video>/input/``
holds real blurry videos without ground truth (split ``qualitative``). Ids:
``quantitative_datasets/IMG_0003/input/00000.jpg``.
"""

from __future__ import annotations

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.download import DownloadSpec, Source, register_download
from blurbench.datamodules.paired import PairedDataModule, rel_id, sorted_images
from blurbench.datamodules.video import video_variant
from blurbench.errors import DataError

TEST_VIDEOS = ("720p_240fps_2", "IMG_0003", "IMG_0021", "IMG_0030", "IMG_0031", "IMG_0032", "IMG_0033", "IMG_0037",
               "IMG_0039", "IMG_0049")
#: 6708 pairs in all (ANCHORS §4); train = the 61 other videos: 6708 - 1000 (derived, unverified)
OFFICIAL_COUNTS: dict[str, int | None] = {"train": 5708, "test": 1000, "qualitative": None}


class DVD(PairedDataModule):
    name = "dvd"
    official_counts = OFFICIAL_COUNTS
    top_folders = ("DeepVideoDeblurring_Dataset",)

    def list_clips(self, split: str) -> dict[str, list[PairRecord]]:
        if split == "qualitative":
            base = self.root / "qualitative_datasets"
            if not base.is_dir():
                raise DataError(f"{base}: not found", "expected qualitative_datasets/<video>/input/*.jpg")
            return {v.name: [PairRecord(rel_id(p, self.root), p) for p in sorted_images(v / "input")]
                    for v in sorted(base.iterdir()) if v.is_dir()}
        base = self.root / "quantitative_datasets"
        if not base.is_dir():
            raise DataError(f"{base}: not found", "expected quantitative_datasets/<video>/{GT,input}/NNNNN.jpg")
        videos = sorted(v.name for v in base.iterdir() if v.is_dir())
        chosen = [v for v in videos if (v in TEST_VIDEOS) == (split == "test")]
        clips = {}
        for v in chosen:
            names = sorted({p.name for p in sorted_images(base / v / "input")}
                           | {p.name for p in sorted_images(base / v / "GT")})
            clips[v] = [PairRecord(rel_id(base / v / "input" / n, self.root), base / v / "input" / n,
                                   base / v / "GT" / n) for n in names]
        return clips

    def extra_problems(self, split: str) -> list[str]:
        if split != "test" or self.allow_subset:
            return []
        base = self.root / "quantitative_datasets"
        return [f"{base / v}: test video missing" for v in TEST_VIDEOS if not (base / v).is_dir()]


DVDVideo = video_variant(DVD, "dvd-video")

register_download(DownloadSpec(
    "dvd",
    sources=(Source("http://www.cs.ubc.ca/labs/imager/tr/2017/DeepVideoDeblurring/DeepVideoDeblurring_Dataset.zip"),),
    licence="research use (authors' terms)", homepage="https://www.cs.ubc.ca/labs/imager/tr/2017/DeepVideoDeblurring/",
))
