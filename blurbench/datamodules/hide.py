"""HIDE (Shen et al., ICCV 2019, "Human-aware motion deblurring"; ``joanshen0508/HA_deblur``).

Layout: ``[HIDE_dataset/]train/*.png``, ``test/test-close-ups/*.png``, ``test/test-long-shot/*.png`` and
the sharp images ``GT/<same name>.png``; 2025 test pairs (both test folders), 6397 train pairs
(unverified). Ids: relative blurry paths, e.g. ``test/test-long-shot/<name>.png``.
"""

from __future__ import annotations

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.download import DownloadSpec, register_download
from blurbench.datamodules.paired import PairedDataModule, rel_id, sorted_images
from blurbench.errors import DataError

TEST_FOLDERS = ("test-close-ups", "test-long-shot")
OFFICIAL_COUNTS: dict[str, int | None] = {"train": 6397, "test": 2025}  # train (unverified)


class HIDE(PairedDataModule):
    name = "hide"
    official_counts = OFFICIAL_COUNTS
    top_folders = ("HIDE_dataset",)

    def list_records(self, split: str) -> list[PairRecord]:
        folders = [self.root / "train"] if split == "train" else [self.root / "test" / f for f in TEST_FOLDERS]
        records = []
        for folder in folders:
            if not folder.is_dir():
                raise DataError(f"{folder}: not found", "expected HIDE_dataset/{train,test/test-close-ups,"
                                "test/test-long-shot,GT}/")
            records += [PairRecord(rel_id(p, self.root), p, self.root / "GT" / p.name) for p in sorted_images(folder)]
        return records


register_download(DownloadSpec(
    "hide", licence="research use; Google Drive only", homepage="https://github.com/joanshen0508/HA_deblur",
    manual="download HIDE_dataset from the Google Drive link in https://github.com/joanshen0508/HA_deblur and "
           "unpack it into --root",
))
