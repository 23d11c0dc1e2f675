"""Köhler et al., ECCV 2012: recorded camera shake, 4 images × 12 trajectories = 48 blurry images.

Layout (PNG release of the ground truth): ``Blurry{i}_{j}.png`` and the sharp frames recorded along the
trajectory, ``Image{i}/Kernel{j}/GroundTruth{i}_{j}_{f}.png`` (~199 per item; the official ground truth
for (1, 3) lacks one frame). Optionally ``BlurryImages/`` holds the blurry files. A sample holds
``blurry`` and ``frames`` (the sharp frame paths, read lazily at scoring — 199 full frames would not fit a
batch); ids are ``Blurry{i}_{j}.png``. Score: :func:`blurbench.metrics.protocols.kohler_psnr` — the best PSNR
over frames after intensity scaling and integer-shift registration (``eval_image.m``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from blurbench.datamodules.base import PairRecord
from blurbench.datamodules.download import DownloadSpec, register_download
from blurbench.datamodules.paired import PairedDataModule, rel_id
from blurbench.errors import DataError
from blurbench.io import read_image
from blurbench.metrics.protocols import KOHLER_PROTOCOL, kohler_psnr

OFFICIAL_COUNTS = {"test": 48}
IMAGES, KERNELS = 4, 12


class Kohler(PairedDataModule):
    name = "kohler"
    official_counts = OFFICIAL_COUNTS
    protocol = f"{KOHLER_PROTOCOL} (intensity scaling, integer-shift registration, best of ~199 frames)"

    def _blurry_dir(self) -> Path:
        return self.root / "BlurryImages" if (self.root / "BlurryImages").is_dir() else self.root

    def list_records(self, split: str) -> list[PairRecord]:
        if not self.root.is_dir():
            raise DataError(f"{self.root}: not found", "pass the Köhler benchmark root")
        records = []
        for i in range(1, IMAGES + 1):
            for j in range(1, KERNELS + 1):
                blurry = self._blurry_dir() / f"Blurry{i}_{j}.png"
                folder = self.root / f"Image{i}" / f"Kernel{j}"
                pattern = re.compile(rf"GroundTruth{i}_{j}_(\d+)\.png")
                frames = sorted((p for p in folder.glob("*.png") if pattern.fullmatch(p.name)),
                                key=lambda p: int(pattern.fullmatch(p.name).group(1))) if folder.is_dir() else []
                if not blurry.exists() and not frames:
                    continue  # absent item: the count check reports it
                records.append(PairRecord(rel_id(blurry, self.root), blurry, None,
                                          {"files": tuple(frames), "frames": tuple(str(p) for p in frames),
                                           "gt_dir": folder}))
        return records

    def extra_problems(self, split: str) -> list[str]:
        return [f"{r.extras['gt_dir']}: no ground-truth frames for {r.id}" for r in self.records(split)
                if not r.extras["frames"]]

    def load_extras(self, rec: PairRecord) -> dict[str, Any]:
        return {"frames": list(rec.extras["frames"])}

    def score(self, restored: torch.Tensor, batch: dict[str, Any]) -> list[dict[str, float]]:
        out = []
        for r, paths in zip(restored, batch["frames"]):
            frames = torch.stack([read_image(p) for p in paths])
            result = kohler_psnr(r, frames)
            out.append({"psnr": result["psnr"], "ssim": result["ssim"]})
        return out


register_download(DownloadSpec(
    "kohler", licence="research use; distributed by the authors only",
    homepage="https://webdav.tuebingen.mpg.de/pixel/benchmark4camerashake/",
    manual="download the blurry images and ground truth from "
           "https://webdav.tuebingen.mpg.de/pixel/benchmark4camerashake/ and lay them out as "
           "ROOT/Blurry{i}_{j}.png and ROOT/Image{i}/Kernel{j}/GroundTruth{i}_{j}_{f}.png",
))
