"""Where blurbench keeps generated data: ``$BLURBENCH_CACHE`` or the user cache dir (XDG)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir


def cache_dir() -> Path:
    """Root of blurbench's cache; ``BLURBENCH_CACHE`` overrides the platform default."""
    env = os.environ.get("BLURBENCH_CACHE")
    return Path(env).expanduser() if env else Path(user_cache_dir("blurbench"))
