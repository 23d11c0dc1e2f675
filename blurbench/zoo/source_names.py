"""What a model source's name looks like (the forms of :mod:`blurbench.zoo.sources`), decided without torch.

Apart from the loader so that the command line can tell a mistyped ``--methods`` name from a model source
before it imports torch and Lightning (~9 s on two CPU cores): a typo then stops in under a second.
"""

from __future__ import annotations

from pathlib import Path

from blurbench.errors import ConfigError
from blurbench.hub import HUB_PREFIX
from blurbench.zoo.registry import _REGISTRY

__all__ = ["CKPT_SUFFIX", "FILE_SUFFIXES", "SHA_SUFFIX", "is_model_source", "split_digest"]

SHA_SUFFIX = "#sha256="
CKPT_SUFFIX = ".ckpt"
FILE_SUFFIXES = (".pth", ".pt", ".h5", ".bin", ".safetensors")


def split_digest(source: str) -> tuple[str, str | None]:
    """``"x#sha256=HEX"`` → ``("x", "hex")``; a source without the suffix → ``(source, None)``."""
    base, sep, digest = str(source).partition(SHA_SUFFIX)
    if not sep:
        return str(source), None
    digest = digest.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ConfigError(f"{source}: '{digest}' is not a sha256 (64 hex digits)", "fix the #sha256= suffix")
    return base, digest


def is_model_source(source: str) -> bool:
    """Whether ``source`` names a model in one of the forms of :mod:`~blurbench.zoo.sources` (no file is read)."""
    base, _ = split_digest(source)
    if base.startswith(HUB_PREFIX) or base in _REGISTRY:
        return True
    path = Path(base).expanduser()
    return path.is_dir() and (path / "config.json").is_file() or path.is_file() and (
        path.suffix in (CKPT_SUFFIX, *FILE_SUFFIXES))
