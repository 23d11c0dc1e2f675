"""How ``blurbench fit|validate|test|predict`` run through LightningCLI under every launcher.

- Lightning's DDP launcher (strategy ``ddp``, the default for several devices; ``--trainer.num_nodes`` with
  ``MASTER_ADDR``/``MASTER_PORT``/``NODE_RANK`` set on each node) starts the other ranks by re-running this
  process's command line: ``sys.executable -m <module>`` when it was started with ``-m`` (``python -m
  blurbench``), else ``sys.executable abspath(sys.argv[0])``. So ``sys.argv[0]`` stays the path of the
  ``blurbench`` console script, made absolute (:func:`relaunch_argv0`); a foreign ``__main__`` (``main()``
  called from pytest or a notebook) cannot be re-run and is refused before any rank starts.
- ``ddp_spawn`` pickles the trainer into new processes: :class:`BlurbenchCLI` is a module-level class.
- torchrun and SLURM (``srun``) start every rank themselves; each rank runs the whole command.

Configuration errors are found by :func:`preflight` in the launching process, before ``Trainer.<stage>``
starts any rank, and printed as one line (exit code 2) by :func:`blurbench.cli.main`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.plugins.environments import TorchElasticEnvironment
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher

from blurbench.errors import ConfigError, DataError

__all__ = ["BlurbenchCLI", "preflight", "relaunch_argv0", "run_lightning_cli"]

CONSOLE_SCRIPTS = ("blurbench", "blurbench.exe", "blurbench-script.py")


def relaunch_argv0() -> str | None:
    """``sys.argv[0]`` with which Lightning's DDP launcher re-runs this command, or None when it cannot."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    argv0 = sys.argv[0] if sys.argv else ""
    if spec is not None:  # python -m blurbench: the launcher runs `python -m blurbench.__main__ ARGS`
        return argv0 if spec.name in ("blurbench", "blurbench.__main__") else None
    path = Path(argv0)
    if path.name in CONSOLE_SCRIPTS and path.is_file():
        return str(path.resolve())
    return None


def _check_ckpt_path(ckpt_path: str | None) -> None:
    if not ckpt_path or ckpt_path in ("last", "best", "hpc") or ckpt_path.startswith("registry") \
            or "://" in ckpt_path:
        return
    if not Path(ckpt_path).expanduser().is_file():
        raise ConfigError(f"ckpt_path {ckpt_path}: checkpoint not found", "fix the path (or pass 'last' / 'best')")


def _check_ranks(trainer: L.Trainer, relaunchable: bool) -> None:
    strategy = trainer.strategy
    if isinstance(strategy.launcher, _SubprocessScriptLauncher) and not relaunchable \
            and not strategy.cluster_environment.creates_processes_externally:
        raise ConfigError("strategy 'ddp' starts the other ranks by re-running this program's command line, and "
                          "this program is not `blurbench`", "run `blurbench fit ...` (or `python -m blurbench "
                          "fit ...`) from a shell, or use --trainer.strategy ddp_spawn")
    if TorchElasticEnvironment.detect():
        started = int(os.environ["WORLD_SIZE"])
        if started != trainer.world_size:  # e.g. devices: 1 — every process would train alone, same files
            raise ConfigError(f"torchrun started {started} processes but the trainer runs {trainer.world_size}",
                              f"pass --trainer.devices N --trainer.num_nodes M with N × M = {started}")


def preflight(trainer: L.Trainer, model: L.LightningModule, datamodule: L.LightningDataModule | None, stage: str,
              ckpt_path: str | None = None, relaunchable: bool = True) -> None:
    """Find configuration errors before any rank starts (one line and exit 2, not a crash in every rank).

    Checks that the other ranks can be started (and, under torchrun, that the trainer uses them all), the
    checkpoint to resume from, the data (``prepare_data`` on local rank 0, as Lightning would run it; then the
    train split, or the evaluated split, of on-disk datamodules) and, for ``fit``, the files the model needs
    (``prepare_training``: pretrained weights, VGG19, a frozen blur-field network; idempotent, so nothing is
    read twice). Ranks started by torchrun or SLURM each run it for themselves.
    """
    _check_ranks(trainer, relaunchable)
    _check_ckpt_path(ckpt_path)
    if datamodule is not None:
        per_node = getattr(datamodule, "prepare_data_per_node", True)
        if (trainer.local_rank if per_node else trainer.global_rank) == 0:
            datamodule.prepare_data()
        problems: list[str] = []
        if stage == "fit" and hasattr(datamodule, "check_split") and hasattr(datamodule, "train_split"):
            problems = datamodule.check_split(datamodule.train_split)[1]
        elif stage in ("test", "predict") and hasattr(datamodule, "check"):
            problems = datamodule.check()
        if problems:
            name = getattr(datamodule, "name", type(datamodule).__name__)
            raise DataError(problems[0], f"run `blurbench data check {name}` for the full list")
    if stage == "fit" and callable(getattr(model, "prepare_training", None)):
        model.prepare_training()


class BlurbenchCLI(LightningCLI):
    """LightningCLI that runs :func:`preflight` before the subcommand (module-level: ``ddp_spawn`` pickles it)."""

    def __init__(self, *args: Any, relaunchable: bool = True, **kwargs: Any) -> None:
        self.relaunchable = relaunchable  # set first: LightningCLI.__init__ runs the subcommand
        super().__init__(*args, **kwargs)

    def _preflight(self) -> None:
        sub = self.subcommand
        preflight(self.trainer, self.model, self.datamodule, sub, self.config_init[sub].get("ckpt_path"),
                  self.relaunchable)

    before_fit = before_validate = before_test = before_predict = _preflight


def run_lightning_cli(argv: list[str]) -> int:
    """Run LightningCLI on ``argv`` (presets already resolved) with ``sys.argv`` set for the DDP launcher."""
    argv0 = relaunch_argv0()
    saved = sys.argv
    # LightningCLI reads sys.argv itself (passing args= as well makes it warn), and so does the DDP launcher.
    sys.argv = [argv0 or (saved[0] if saved else "blurbench"), *argv]
    try:
        BlurbenchCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                     parser_kwargs={"parser_mode": "omegaconf"}, save_config_kwargs={"overwrite": True},
                     relaunchable=argv0 is not None)
    finally:
        sys.argv = saved
    return 0
