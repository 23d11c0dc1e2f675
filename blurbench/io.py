"""Image and file I/O shared by datamodules, tasks and the evaluation pipeline.

Images cross our boundaries as float32 CHW tensors in [0, 1], RGB, no gamma change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from blurbench.errors import DataError

# OpenCV spawns its own thread pool per DataLoader worker; Lightning already parallelises over workers.
cv2.setNumThreads(1)


def truncation(path: str | os.PathLike) -> str | None:
    """Why a JPEG or PNG file is cut short (no end marker in its tail), or None.

    libjpeg decodes a truncated JPEG with only a warning on stderr, filling the missing part with grey; such a file
    would be scored as if intact. JPEG ends with EOI (FF D9; entropy-coded data never holds FF D9), PNG with its
    IEND chunk. Only the tail is read, so this is as cheap as a header check.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".jpg", ".jpeg", ".png"):
        return None
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - 1024))
        tail = f.read()
    if suffix == ".png":
        return None if b"IEND" in tail[-64:] else "truncated PNG (no IEND chunk at the end)"
    return None if b"\xff\xd9" in tail else "truncated JPEG (no end-of-image marker)"


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """Read an 8- or 16-bit image file as a float32 RGB tensor [3, H, W] in [0, 1].

    A truncated file is a :class:`DataError`, never a partly grey image (see :func:`truncation`).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found", "check the dataset root or re-download the dataset")
    cut = truncation(path)
    if cut:
        raise DataError(f"{path}: unreadable image ({cut})", "the file is corrupt; re-download or re-export it")
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise DataError(f"{path}: unreadable image", "the file is corrupt or truncated; re-download it")
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB)
    else:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    # one float32 copy, scaled in place (a 24 MP photo: 288 MB, not three times that)
    out = torch.empty(arr.shape[2], *arr.shape[:2], dtype=torch.float32)
    out.copy_(torch.from_numpy(arr).permute(2, 0, 1))
    return out.div_(scale)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """[3, H, W] float in [0, 1] -> HWC uint8 RGB, rounded to nearest."""
    # one float copy, then in place: a large output costs one float buffer beside it, not three
    arr = image.detach().float().clamp(0, 1).mul_(255).round_().to(torch.uint8).cpu().numpy()
    return arr.transpose(1, 2, 0) if arr.ndim == 3 else arr


def write_image(path: str | os.PathLike, image: torch.Tensor | np.ndarray) -> None:
    """Write an RGB image atomically (8-bit PNG/JPEG by extension)."""
    arr = to_uint8(image) if isinstance(image, torch.Tensor) else image
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    path = Path(path)
    ok, buf = cv2.imencode(path.suffix or ".png", arr)
    if not ok:
        raise DataError(f"{path}: could not encode image", "use a .png or .jpg file name")
    atomic_write_bytes(path, buf.tobytes())


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[Any]:
    """Open a temporary file beside ``path`` and move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    # mkstemp creates 0600 files; give the result the permissions a plain open() would have
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def manifest_problems(root: str | os.PathLike) -> list[str]:
    """What is wrong with a folder built with a sha256 ``manifest.json`` (``{"files": {relative path: sha256}}``):
    a missing or unreadable manifest, missing or changed files; empty = complete and intact."""
    root = Path(root)
    manifest = root / "manifest.json"
    if not manifest.is_file():
        return [f"{root}: not generated yet"]
    try:
        files = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError) as err:
        return [f"{manifest}: unreadable manifest ({err})"]
    problems = []
    for rel, digest in files.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{path}: checksum mismatch (corrupt or partial file)")
    return problems


def move_directory_into_place(tmp: str | os.PathLike, target: str | os.PathLike, intact: Callable[[], bool]) -> None:
    """Swap a fully written directory ``tmp`` in as ``target`` by renames (never a half-written ``target``).

    If a concurrent writer (another DDP rank) renamed its copy in first, theirs is kept when ``intact()``.
    """
    tmp, target = Path(tmp), Path(target)
    if target.exists():
        trash = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old."))
        target.rename(trash / "old")
        shutil.rmtree(trash, ignore_errors=True)
    try:
        tmp.rename(target)
    except OSError:
        if not intact():
            raise
