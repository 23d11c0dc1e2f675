"""Checks made before any work, and what an interrupted run says: nothing lost, one line, a fix that runs.

* :func:`check_writable_dir`: an output folder that is a file, lies under a file or cannot be written is refused
  with one line, after a probe write, before anything is computed.
* :func:`check_predict_paths`: ``predict --output`` never overwrites an input.
* :func:`check_accelerator`: ``--accelerator gpu`` with no visible GPU.
* :func:`interruptible`: SIGTERM and SIGINT during ``evaluate`` end the run with :class:`Interrupted`; the CLI
  prints how many rows are kept and exits 128 + the signal number (143 / 130).
"""

from __future__ import annotations

import os
import pickle
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from blurbench.errors import ConfigError


class Interrupted(BaseException):
    """A SIGTERM/SIGINT received during a run. A BaseException, so no ``except Exception`` swallows it, and not a
    KeyboardInterrupt, which Lightning turns into ``sys.exit(1)``."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _first_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def check_writable_dir(path: str | os.PathLike, option: str) -> Path:
    """Create ``path`` if needed and prove it writable with a probe file; one-line :class:`ConfigError` if not."""
    path = Path(path)
    existing = _first_existing(path.absolute())
    if not existing.is_dir():
        where = "is a file" if existing == path.absolute() else f"lies under the file {existing}"
        raise ConfigError(f"{option} {path} {where}, not a folder", f"pass a folder to {option}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".blurbench-probe-")
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        raise ConfigError(f"{option} {path} is not writable ({err.strerror or err})",
                          f"pass a writable folder to {option}") from None
    return path


def check_predict_paths(input_path: str | os.PathLike, output: str | os.PathLike) -> None:
    """Refuse an ``--output`` that would overwrite ``--input``: the same folder, a file's own folder, or a folder
    inside the input folder (read recursively: outputs would become inputs and collide with them)."""
    src, dst = Path(input_path).resolve(), Path(output).resolve()
    if src.is_file():
        if dst == src:
            raise ConfigError(f"--output {output} is the --input file", "pass an output folder")
        if dst == src.parent:
            raise ConfigError(f"--output {output} is the folder of --input {input_path}: the prediction would "
                              f"overwrite it", "pass another --output folder")
        return
    if dst == src:
        raise ConfigError(f"--output {output} is the --input folder: predictions would overwrite the input images",
                          "pass another --output folder")
    if src in dst.parents:
        raise ConfigError(f"--output {output} lies inside the --input folder {input_path}: outputs would collide "
                          f"with the inputs read from it", "pass an --output folder outside the input")


def check_accelerator(accelerator: str) -> None:
    """``gpu``/``cuda``/``mps`` need that device visible to torch; say so before any work."""
    import torch  # deferred: torch (the CLI imports this module for every command)

    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--accelerator {accelerator}: no CUDA GPU is visible to torch",
                          "use --accelerator cpu (or auto, which picks what is there)")
    if accelerator == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("--accelerator mps: MPS is not available on this machine",
                          "use --accelerator cpu (or auto, which picks what is there)")


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM and SIGINT raise :class:`Interrupted` in the main thread while the block runs.

    Lightning composes its own SIGTERM handler with the one found here (its handler only sets a flag and ends the
    loop with a SystemExit of code 0); ours raising ends the run wherever it is. Rows are appended and fsynced one
    at a time and every other file is written atomically, so what was written stays intact.
    """

    def handler(signum, frame):
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _option_value(argv: list[str], option: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


def known_fault_line(err: BaseException, argv: list[str]) -> str | None:
    """The one line for a fault that is the user's file or machine, not a bug; None for anything else.

    * a checkpoint whose unpickling would run code (torch refuses it under ``weights_only``);
    * an operating-system error on a named file (disk full, permissions changed mid-run, ...).
    """
    if isinstance(err, pickle.UnpicklingError) or "Weights only load failed" in str(err):
        ckpt = _option_value(argv, "--ckpt_path") or "the checkpoint"
        return (f"{ckpt}: refused: loading it would run code stored in the file (torch weights_only) — use a "
                f"checkpoint written by `blurbench fit`, or load a file you trust in Python and save its state_dict")
    if isinstance(err, OSError) and getattr(err, "filename", None):
        return (f"{err.filename}: {err.strerror or err} — fix the file or folder (space, permissions) and re-run the "
                f"same command: what was written is kept")
    return None
