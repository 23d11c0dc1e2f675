"""Where a number came from: code version, configuration, weights, hardware, date."""

from __future__ import annotations

import datetime as _dt
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import scipy
import torch

import blurbench
from blurbench.ops.reblur_autotune import processor


@lru_cache(maxsize=1)
def git_commit() -> str:
    """Commit of the blurbench source tree (``-dirty`` when it has uncommitted changes), else 'unknown'."""
    root = Path(blurbench.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--",
                                "blurbench"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def device_description(accelerator: str, devices: int, num_nodes: int = 1) -> str:
    if accelerator == "cuda" and torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
    elif accelerator == "mps":
        name = "Apple MPS"
    else:
        name = processor("cpu")  # the CPU's model name: float rounding (and so the 4th decimal) can follow it
    world = f"{devices}x{num_nodes} nodes" if num_nodes > 1 else f"{devices}"
    return f"{accelerator} x{world} ({name}, {torch.get_num_threads()} threads/process)"


def provenance(*, config_hash: str, weights_sha256: str | None, device: str, extra: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    info = {
        "blurbench": blurbench.__version__,
        "commit": git_commit(),
        "config_hash": config_hash,
        "weights_sha256": weights_sha256 or "none",
        "device": device,
        "torch": torch.__version__,
        # the numeric libraries whose builds can move the last decimals from one machine to another
        "libraries": f"numpy {np.__version__}, scipy {scipy.__version__}, opencv {cv2.__version__}",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    info.update(extra or {})
    return info
