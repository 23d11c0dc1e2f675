"""The built-in video dataset: blurry clips rendered from scikit-image's photos the GVD paper's way.

Each clip is a high-frame-rate sequence made from one photograph (smooth camera motion plus a moving
foreground layer, :func:`blurbench.ops.video_synthesis.make_blurry_clip`), averaged ``k`` sub-frames per
output frame (duty cycle τ = k/(k+1)), with ground-truth sharp frames and forward/backward optical flows.
Files per clip: ``blurry/NNN.png``, ``sharp/NNN.png``, ``gt.safetensors`` (``flow_fw``, ``flow_bw``
[T, 2, H, W] in pixels, ``flow_fw[t]`` maps frame t to t+1; ``tau``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from blurbench.datamodules.base import EvaluationDataModule, PairRecord
from blurbench.datamodules.builtin import PHOTOS, BuiltinDataset, _photo, dataset_dir, prepare, register_builtin, verify
from blurbench.errors import DataError
from blurbench.io import read_image, write_image

#: clips in the dataset (photos), frames per clip, frame size (H, W), HFR sub-frames averaged per frame
CLIP_PHOTOS = PHOTOS[:4]
N_FRAMES = 5
SIZE = (96, 128)
SUBFRAMES = 7


def _generate(out: Path, seed: int) -> list[str]:
    from blurbench.ops.video_synthesis import make_blurry_clip

    written = []
    for index, photo in enumerate(CLIP_PHOTOS):
        rng = np.random.default_rng([seed, index])
        clip = make_blurry_clip(_photo(photo), rng, n_frames=N_FRAMES, k=SUBFRAMES, size=SIZE)
        for t in range(N_FRAMES):
            for kind in ("blurry", "sharp"):
                rel = f"{photo}/{kind}/{t:03d}.png"
                write_image(out / rel, clip[kind][t])
                written.append(rel)
        save_file({"flow_fw": clip["flow_fw"].float().contiguous(), "flow_bw": clip["flow_bw"].float().contiguous(),
                   "tau": torch.tensor([float(clip["tau"])])}, str(out / photo / "gt.safetensors"))
        written.append(f"{photo}/gt.safetensors")
    return written


class _Clips(Dataset):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.records = [PairRecord(p, root / p / "blurry", root / p / "sharp") for p in CLIP_PHOTOS]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.records[i]
        names = [f"{t:03d}.png" for t in range(N_FRAMES)]
        gt_path = self.root / rec.id / "gt.safetensors"
        try:
            gt = load_file(str(gt_path))
        except Exception as err:  # safetensors raises several types for corrupt files
            raise DataError(f"{gt_path}: unreadable ({err})", "run `blurbench data prepare builtin --force`") from None
        return {"id": rec.id, "names": names,
                "blurry": torch.stack([read_image(rec.blurry / n) for n in names]),
                "sharp": torch.stack([read_image(rec.sharp / n) for n in names]),
                "flow_fw": gt["flow_fw"], "flow_bw": gt["flow_bw"], "tau": gt["tau"]}


class BuiltinVideoDataModule(EvaluationDataModule):
    """Whole clips (``blurry``/``sharp`` [T, 3, H, W], GT flows, τ); every frame is scored."""

    name = "video"
    kind = "video"
    protocol = "psnr-ssim per frame (uint8 RGB, Gaussian SSIM), EPE of forward flows"
    split = "test"

    def prepare_data(self) -> None:
        prepare(self.name)

    def check(self) -> list[str]:
        return verify(self.name)

    def build_test_dataset(self) -> _Clips:
        return _Clips(dataset_dir(self.name))


register_builtin(
    BuiltinDataset("video", "video", 3, _generate,
                   f"{len(CLIP_PHOTOS)} clips x {N_FRAMES} frames ({SIZE[1]}x{SIZE[0]}), camera motion + moving layer, "
                   f"{SUBFRAMES} HFR sub-frames averaged, GT flows"),
    lambda data_root=None, **kw: BuiltinVideoDataModule(**kw),
)
