"""A wheel that works: built from the checkout, installed in a fresh venv outside it, presets and weights inside."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_declared_packages_are_the_tree() -> None:
    """pyproject lists the packages explicitly (configs/ is mapped to blurbench.configs): none may be forgotten."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "blurbench").rglob("__init__.py")}
    assert set(cfg["packages"]) == on_disk | {"blurbench.configs"}
    assert cfg["package-dir"] == {"blurbench.configs": "configs"}


_PARSE_EVERY_PRESET = """
import contextlib, importlib.resources as r, io
from blurbench.cli import main
names = sorted(f"{d.name}/{f.name[:-5]}" for d in r.files("blurbench.configs").iterdir() if d.is_dir()
               for f in d.iterdir() if f.name.endswith(".yaml"))
for n in names:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = main(["fit", "--config", n, "--print_config"])
    except SystemExit as e:
        code = e.code
    assert code in (0, None) and "class_path" in out.getvalue(), (n, code, out.getvalue()[-300:])
print(" ".join(names))
"""


@pytest.mark.slow  # builds a wheel, makes a venv, runs three commands and parses every preset in it
def test_wheel_outside_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(wheels), str(REPO)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    # a fresh environment: the wheel is installed normally (console script included); the heavy dependencies
    # (torch, lightning, ...) are borrowed from the test's environment instead of being installed again
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                          str(next(wheels.glob("*.whl")))], capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-2000:]
    work = tmp_path / "work"  # not the checkout: nothing may be read from the repository
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["BLURBENCH_CACHE"] = os.environ.get("BLURBENCH_CACHE", str(tmp_path / "cache"))
    blurbench = str(venv / "bin" / "blurbench")

    def run(*args: str) -> subprocess.CompletedProcess:
        res = subprocess.run([blurbench, *args], capture_output=True, text=True, timeout=900, cwd=work, env=env)
        assert res.returncode == 0, f"{args}: {res.stderr[-3000:]}"
        return res

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import blurbench; print(blurbench.__file__)"],
                           capture_output=True, text=True, cwd=work, env=env)
    assert str(site) in where.stdout  # the installed wheel, not the checkout
    assert "blurfield-small" in run("methods").stdout
    run("fit", "--config", "blurfield/small_cpu", "--trainer.fast_dev_run=true", "--data.init_args.num_workers=0")
    # every preset ships and parses from the installed package (one interpreter: --print_config stops before work)
    parse_all = subprocess.run([str(venv / "bin" / "python"), "-c", _PARSE_EVERY_PRESET], capture_output=True,
                               text=True, timeout=600, cwd=work, env=env)
    assert parse_all.returncode == 0, parse_all.stderr[-3000:]
    shipped = parse_all.stdout.split()
    assert sorted(shipped) == sorted(f"{p.parent.name}/{p.stem}" for p in (REPO / "configs").glob("*/*.yaml"))
    run("evaluate", "--methods", "deblurgan-small,identity", "--datasets", "motion", "--limit", "1", "--out",
        str(work / "run"), "--no-progress")
    assert (work / "run" / "leaderboard.md").is_file()
