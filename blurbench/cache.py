"""Where blurbench keeps generated data: ``$BLURBENCH_CACHE`` or the user cache dir (XDG)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

from blurbench.errors import ConfigError


def cache_dir() -> Path:
    """Root of blurbench's cache; ``BLURBENCH_CACHE`` overrides the platform default.

    A cache path that is a file, or lies under one, is a one-line :class:`ConfigError` naming the variable.
    """
    env = os.environ.get("BLURBENCH_CACHE")
    root = Path(env).expanduser() if env else Path(user_cache_dir("blurbench"))
    for candidate in (root, *root.absolute().parents):
        if candidate.exists():
            if not candidate.is_dir():
                where = "is a file" if candidate == root.absolute() else f"lies under the file {candidate}"
                source = f"BLURBENCH_CACHE={env}" if env else f"the cache folder {root}"
                raise ConfigError(f"{source} {where}, not a folder",
                                  "point BLURBENCH_CACHE at a folder (or unset it to use the default)")
            break
    return root
