"""Shared fixtures: a per-session cache for the built-in benchmark, seeded RNGs, CLI runners."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test session generates the built-in suite once into its own cache."""
    cache = tmp_path_factory.mktemp("blurbench-cache")
    os.environ["BLURBENCH_CACHE"] = str(cache)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    return cache


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600, cwd: Path | None = None
            ) -> subprocess.CompletedProcess:
    """Run ``python -m blurbench ARGS`` in a subprocess, as a user would from a shell."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "blurbench", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd or REPO)
