"""``blurbench data download``: fetch public archives, verify them, unpack into the official layout.

- Plain URLs are fetched into ``ROOT/.blurbench-downloads/<file>.part`` and **resumed** with an HTTP
  ``Range`` request when a partial file exists (a server answering 200 instead of 206 restarts cleanly).
- The finished file's sha256 is compared with the registered checksum (or ``--sha256``); a mismatch
  deletes the file and fails with one line. Releases without a published checksum are marked so, and the
  digest measured here is printed and recorded in ``ROOT/.blurbench-downloads/manifest.json``.
- Hub mirrors (``hf://datasets/<repo>/<file>``) go through ``huggingface_hub.hf_hub_download`` (its own
  cache and resume; ``HF_ENDPOINT`` is honoured).
- Archives (zip, tar, tar.gz, tgz) are unpacked into a temporary folder inside ROOT, checked for unsafe
  member paths, then moved into place entry by entry (``os.replace``: a crash leaves either nothing or a
  complete file, never a half-written one); existing files are kept.
- Datasets whose licence forbids redistribution (or that are only on a web form / cloud drive) have no
  source: the command prints where to get them and exits with code 2.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from blurbench.datamodules.catalog import import_dataset_modules
from blurbench.downloads import fetch
from blurbench.errors import ConfigError, DataError
from blurbench.io import atomic_write_json, sha256_file
from blurbench.lazy import register_once

__all__ = ["DownloadSpec", "Source", "download", "get_download", "register_download", "unpack"]

_STATE = ".blurbench-downloads"


@dataclass(frozen=True)
class Source:
    """One archive: ``url`` (http(s)://, file://, or ``hf://datasets/<repo>/<file>``) and its sha256 (None: none
    published)."""

    url: str
    sha256: str | None = None
    #: unpack (zip/tar) after download; False keeps the file as is
    unpack: bool = True
    #: other locations of the same file, tried in order when ``url`` cannot be fetched
    mirrors: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


@dataclass(frozen=True)
class DownloadSpec:
    """How to get a dataset: public ``sources``, or ``manual`` instructions when it may not be redistributed."""

    name: str
    sources: tuple[Source, ...] = ()
    licence: str = ""
    manual: str | None = None
    homepage: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


_DOWNLOADS: dict[str, DownloadSpec] = {}


def register_download(spec: DownloadSpec) -> DownloadSpec:
    return register_once(_DOWNLOADS, spec.name, spec, f"download source of {spec.name}")


def get_download(name: str) -> DownloadSpec:
    import_dataset_modules()
    if name not in _DOWNLOADS:
        raise ConfigError(f"no download recipe for '{name}'", f"choose one of: {', '.join(sorted(_DOWNLOADS))}")
    return _DOWNLOADS[name]


def downloads() -> dict[str, DownloadSpec]:
    import_dataset_modules()
    return dict(_DOWNLOADS)


# ---------------------------------------------------------------------------------------------- fetching
def _fetch_hub(url: str, dest: Path) -> Path:
    """``hf://datasets/<owner>/<repo>/<path>`` through huggingface_hub (its cache; resumes itself)."""
    rest = url[len("hf://datasets/"):]
    parts = rest.split("/")
    if len(parts) < 3:
        raise ConfigError(f"{url}: expected hf://datasets/<owner>/<repo>/<file>", "fix the source URL")
    repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
    try:
        from huggingface_hub import hf_hub_download  # deferred: huggingface_hub (Hub mirrors only)

        local = hf_hub_download(repo, filename, repo_type="dataset")
    except Exception as err:  # network, auth and not-found errors all mean "could not fetch"
        raise DataError(f"{url}: Hub download failed ({type(err).__name__}: {str(err).splitlines()[0][:200]})",
                        "check HF_ENDPOINT/HF_TOKEN and your network, or download the file by hand") from err
    return Path(local)


# --------------------------------------------------------------------------------------------- unpacking
def _is_archive(path: Path) -> bool:
    return zipfile.is_zipfile(path) or tarfile.is_tarfile(path)


def _safe_members(names: list[str], archive: Path) -> None:
    for name in names:
        p = Path(name)
        if p.is_absolute() or ".." in p.parts:
            raise DataError(f"{archive}: unsafe member path '{name}'", "the archive is corrupt or malicious")


def _merge(src: Path, dst: Path) -> int:
    """Move the tree ``src`` into ``dst`` entry by entry (atomic renames); keeps files already in ``dst``."""
    moved = 0
    for entry in sorted(src.iterdir()):
        target = dst / entry.name
        if entry.is_dir() and not entry.is_symlink():
            if target.is_dir():
                moved += _merge(entry, target)
            elif not target.exists():
                os.replace(entry, target)
                moved += sum(1 for _ in target.rglob("*"))
        elif not target.exists():
            os.replace(entry, target)
            moved += 1
    return moved


def unpack(archive: Path, root: Path) -> int:
    """Extract a zip/tar archive into ``root`` via a temporary folder inside it; returns entries moved."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _safe_members(zf.namelist(), archive)
                zf.extractall(tmp)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                _safe_members([m.name for m in members], archive)
                bad = [m.name for m in members if not (m.isfile() or m.isdir())]
                if bad:
                    raise DataError(f"{archive}: links or devices in the archive ({bad[0]})",
                                    "unpack it by hand if you trust it")
                tf.extractall(tmp)
        else:
            raise DataError(f"{archive}: not a zip or tar archive", "delete it and download again")
        return _merge(tmp, root)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
        raise DataError(f"{archive}: corrupt archive ({err})", "delete it and download again") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------------------------------------------------------------- driver
def _fetch_one(name: str, url: str, source: Source, state: Path, manifest: dict, log: Callable[[str], None]
               ) -> tuple[Path, str]:
    if url.startswith("hf://datasets/"):
        log(f"{name}: {url} (Hugging Face Hub)")
        local = _fetch_hub(url, state / source.filename)
        digest = sha256_file(local)
        if source.sha256 is not None and digest != source.sha256.lower():
            raise DataError(f"{url}: sha256 {digest} does not match the expected {source.sha256}",
                            "the Hub file changed or is corrupt; check the mirror")
        return local, digest
    local = state / source.filename
    done = manifest.get(source.filename, {})
    if local.is_file() and done.get("sha256") == sha256_file(local) and (
            source.sha256 is None or done["sha256"] == source.sha256.lower()):
        log(f"{name}: {local.name} already downloaded")
        return local, done["sha256"]
    log(f"{name}: {url}")
    return local, fetch(url, local, source.sha256,
                        manual="or download the file by hand and pass --from-url file://PATH")


def download(spec: DownloadSpec, root: str | Path, *, keep_archives: bool = True,
             log: Callable[[str], None] = print) -> list[Path]:
    """Fetch, verify and unpack every source of ``spec`` into ``root``; returns the archive paths.

    Raises DataError (one line) when the dataset has no public source: ``spec.manual`` says where to get it.
    """
    root = Path(root).expanduser()
    if not spec.sources:
        raise DataError(f"{spec.name} cannot be downloaded automatically"
                        + (f" ({spec.licence})" if spec.licence else ""),
                        spec.manual or f"get it from {spec.homepage or 'its authors'} and unpack it into {root}")
    state = root / _STATE
    manifest_path = state / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    archives = []
    for source in spec.sources:
        errors = []
        for url in (source.url, *source.mirrors):
            try:
                local, digest = _fetch_one(spec.name, url, source, state, manifest, log)
                break
            except DataError as err:
                errors.append(err)
                log(f"{spec.name}: {err.message}")
        else:
            raise errors[-1] if len(errors) == 1 else DataError(
                f"{spec.name}: every location of {source.filename} failed ({errors[0].message})", errors[-1].fix)
        if source.sha256 is None:
            log(f"{spec.name}: {source.filename} has no published checksum; sha256 here is {digest}")
        if source.unpack and _is_archive(local) and manifest.get(source.filename, {}).get("unpacked") != digest:
            n = unpack(local, root)
            log(f"{spec.name}: unpacked {local.name} ({n} entries) into {root}")
        manifest[source.filename] = {"url": source.url, "sha256": digest, "verified": source.sha256 is not None,
                                     "unpacked": digest if source.unpack and _is_archive(local) else None}
        atomic_write_json(manifest_path, manifest)
        archives.append(local)
    if not keep_archives:
        for a in archives:
            if a.parent == state:
                a.unlink(missing_ok=True)
    return archives
