"""The one HTTP downloader of blurbench (zoo weights and dataset archives): resumable, verified, atomic.

``dest.part`` collects the bytes; an interrupted transfer resumes with an HTTP ``Range`` request (a server that
answers 200 instead of 206 restarts the file cleanly, 416 means the part is already complete); an HTML page where a
binary was expected (Google Drive's confirmation page) is refused; the finished file is checked against ``sha256``
and only then renamed to ``dest``.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import blurbench
from blurbench.errors import DataError
from blurbench.io import sha256_file

__all__ = ["fetch"]

log = logging.getLogger(__name__)


def _user_agent() -> str:
    return f"blurbench/{getattr(blurbench, '__version__', '0')}"


class _Interrupted(Exception):
    """A transfer that stopped before its announced length (resumable)."""


def _transfer(url: str, part: Path, timeout: float, chunk: int, progress: Callable[[int, int | None], None] | None,
              manual: str) -> None:
    have = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": _user_agent(), **({"Range": f"bytes={have}-"} if have else {})}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the part file is complete
            return
        raise DataError(f"{url}: HTTP {err.code} {err.reason}", f"check the URL or try again later; {manual}"
                        ) from None
    with response:
        mode = "ab" if have and getattr(response, "status", 200) == 206 else "wb"  # 200: the server ignored Range
        done = have if mode == "ab" else 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length is not None else None
        with open(part, mode) as f:
            first = True
            while block := response.read(chunk):
                if first and done == 0 and block.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
                    f.close()
                    part.unlink(missing_ok=True)
                    raise DataError(f"{url}: the server sent an HTML page instead of the file (Google Drive shows one "
                                    "for large files)", f"download it in a browser; {manual}")
                first = False
                f.write(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
            f.flush()
            os.fsync(f.fileno())
    if total is not None and done < total:
        raise _Interrupted(f"connection closed after {done} of {total} bytes")


def fetch(url: str, dest: str | Path, sha256: str | None = None, *, expected_size: int | None = None,
          retries: int = 0, timeout: float = 60.0, chunk: int = 1 << 20,
          progress: Callable[[int, int | None], None] | None = None,
          manual: str = "or download the file by hand") -> str:
    """Download ``url`` to ``dest`` (module doc); returns the file's sha256.

    ``retries``: resumed attempts after an interrupted transfer within this call (after them the partial file is
    kept and the error says that running the command again resumes). ``expected_size``: a ``.part`` of that size is
    complete. A sha256 mismatch deletes the partial file. ``manual`` ends every hint (e.g. how to pass a copy you
    downloaded yourself).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        if expected_size is not None and part.is_file() and part.stat().st_size >= expected_size:
            break
        try:
            _transfer(url, part, timeout, chunk, progress, manual)
            break
        except (_Interrupted, urllib.error.URLError, ConnectionError, TimeoutError, OSError) as err:
            reason = getattr(err, "reason", err)
            if attempt == retries:
                kept = part.stat().st_size if part.is_file() else 0
                raise DataError(f"{url}: {reason} ({kept:,} bytes kept in {part})",
                                f"run the same command again to resume, {manual}") from None
            log.warning("download of %s interrupted (%s); resuming", url, reason)
    digest = sha256_file(part)
    if sha256 is not None and digest != sha256.lower():
        part.unlink(missing_ok=True)
        raise DataError(f"{url}: sha256 {digest} does not match the expected {sha256.lower()}",
                        "the download is corrupt or the file changed upstream; the partial file was deleted, "
                        "run the command again")
    os.replace(part, dest)
    return digest
