"""`blurbench fit` on two CPU processes (gloo) under Lightning's DDP launcher and torchrun, from a foreign directory.

Each run is a subprocess started in a temporary working directory, as a user would type it, reduced to the bone:
48-px crops, a 32-kernel bank, no loggers, no validation, ``--trainer.max_steps 2``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from .conftest import REPO

TWO_RANKS = ["--trainer.devices=2", "--trainer.accelerator=cpu", "--trainer.max_steps=2"]
LEAN = ["--trainer.logger=false", "--trainer.limit_val_batches=0", "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false", "--data.init_args.bank_size=32", "--data.init_args.num_workers=0",
        "--data.init_args.crop_size=48", "--data.init_args.eval_crop_size=48"]
TINY_GAN = {"generator_args": {"ngf": 4, "n_blocks": 1}, "critic_args": {"ndf": 4, "n_layers": 2}}
TINY_GAN_ARGS = ["--model.init_args.generator_args={ngf: 4, n_blocks: 1}",
                 "--model.init_args.critic_args={ndf: 4, n_layers: 2}"]


def _console_script() -> str:
    """The installed `blurbench` command (the launcher re-runs it: the case that used to fail)."""
    found = Path(sys.executable).with_name("blurbench")
    if not found.is_file():
        found = Path(shutil.which("blurbench") or "")
    if not found.is_file():
        pytest.skip("the blurbench console script is not installed (pip install -e .)")
    return str(found)


def _run(command: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()  # a clean distributed environment: the launcher sets its own
           if k not in ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK")}
    # the repository on the path so the ranks can import tests.ddp_probe
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _ok(res: subprocess.CompletedProcess) -> None:
    assert res.returncode == 0, (res.stdout[-1500:], res.stderr[-3000:])
    assert "`max_steps=2` reached" in res.stderr + res.stdout


def _checkpoint(cwd: Path, run_dir: str) -> dict:
    path = cwd / "runs" / run_dir / "checkpoints" / "last.ckpt"
    assert path.is_file(), sorted(str(p.relative_to(cwd)) for p in cwd.rglob("*"))
    return torch.load(path, map_location="cpu", weights_only=True)


def _base_checkpoint(path: Path) -> Path:
    """A tiny DeblurGAN checkpoint (generator + critic) to fine-tune from."""
    from blurbench.tasks.deblurgan import DeblurGANTraining

    torch.save({"state_dict": DeblurGANTraining(**TINY_GAN, content="l1").state_dict()}, path)
    return path


@pytest.mark.slow  # two ranks each import torch + Lightning: ~15-25 s
def test_blurfield_recipe_ddp_from_another_directory(tmp_path):
    from blurbench.tasks.blurfield import BlurFieldEstimation
    from blurbench.zoo.carbajal import BlurFieldNet

    res = _run([_console_script(), "fit", "--config", "blurfield/small_cpu", *TWO_RANKS,
                "--trainer.strategy=ddp", *LEAN], tmp_path)
    _ok(res)
    ckpt = _checkpoint(tmp_path, "blurfield_small_cpu")
    assert ckpt["global_step"] == 2
    net = {k: v for k, v in ckpt["blurfield_network"].items() if k != "class"}
    task = BlurFieldEstimation.load_from_checkpoint(
        tmp_path / "runs/blurfield_small_cpu/checkpoints/last.ckpt", network=BlurFieldNet(**net))
    assert net["base_width"] == 10 and task.state_dict().keys() == ckpt["state_dict"].keys()


@pytest.mark.slow
def test_deblurgan_recipe_ddp_from_another_directory(tmp_path):
    from blurbench.tasks.deblurgan import DeblurGANTraining

    res = _run([_console_script(), "fit", "--config", "deblurgan/small_cpu", *TWO_RANKS, "--trainer.strategy=ddp",
                *LEAN, *TINY_GAN_ARGS], tmp_path)
    _ok(res)
    ckpt = _checkpoint(tmp_path, "deblurgan/small_cpu")
    task = DeblurGANTraining.load_from_checkpoint(tmp_path / "runs/deblurgan/small_cpu/checkpoints/last.ckpt")
    for key, value in ckpt["state_dict"].items():
        torch.testing.assert_close(task.state_dict()[key], value)


@pytest.mark.slow
def test_reblur_recipe_ddp_keeps_blurfield_frozen_and_out_of_ddp(tmp_path):
    """Two ranks: F frozen, outside the DDP wrapper, the optimisers and the checkpoint; G synced; ranks differ."""
    from blurbench.tasks.reblur_finetune import ReblurFinetune

    base = _base_checkpoint(tmp_path / "base.ckpt")
    probe = {"class_path": "tests.ddp_probe.RankProbe", "init_args": {"out_dir": str(tmp_path / "probe")}}
    res = _run([_console_script(), "fit", "--config", "deblurgan/small_cpu_reblur", *TWO_RANKS,
                "--trainer.strategy=ddp", *LEAN, *TINY_GAN_ARGS, f"--model.init_args.init_from={base.name}",
                f"--trainer.callbacks+={json.dumps(probe)}"], tmp_path)
    _ok(res)
    ranks = [json.loads((tmp_path / "probe" / f"rank{r}.json").read_text()) for r in (0, 1)]
    from blurbench.presets import resolve_config

    data = yaml.safe_load(Path(resolve_config("deblurgan/small_cpu_reblur")).read_text())["data"]["init_args"]
    per_rank = data["samples_per_epoch"] // data["batch_size"] // 2
    for r in ranks:
        assert r["world_size"] == 2 and r["wrapper"] == "DistributedDataParallel"
        assert r["batches_per_epoch"] == per_rank  # the recipe's samples_per_epoch, shared by the ranks
        assert r["wrapped_numel"] == r["trained_numel"] and r["f_numel"] > 0  # DDP syncs G + critic, not F
        assert not r["f_in_wrapper"] and not r["f_in_optimizers"]
        assert not r["f_requires_grad"] and not r["f_training"]
        assert r["after"]["blurfield"] == r["before"]["blurfield"]  # F unchanged
        assert r["after"]["generator"] != r["before"]["generator"]  # G trained
    assert ranks[0]["after"] == ranks[1]["after"]  # the ranks end with the same G (DDP averaged the gradients)
    seen = [{tuple(s) for s in r["samples"]} for r in ranks]
    assert seen[0] and seen[1] and not seen[0] & seen[1]  # each rank trained on its own samples
    ckpt = _checkpoint(tmp_path, "deblurgan/small_cpu_reblur")
    assert {k.split(".")[0] for k in ckpt["state_dict"]} == {"generator", "critic"}
    task = ReblurFinetune.load_from_checkpoint(tmp_path / "runs/deblurgan/small_cpu_reblur/checkpoints/last.ckpt")
    assert task.state_dict().keys() == ckpt["state_dict"].keys() and task.blurfield is None


@pytest.mark.slow
def test_torchrun_form(tmp_path):
    """`torchrun --nproc-per-node 2 -m blurbench fit ...` (torch.distributed.run, on a free port)."""
    res = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m",
                "blurbench", "fit", "--config", "deblurgan/small_cpu", *TWO_RANKS, *LEAN, *TINY_GAN_ARGS], tmp_path)
    _ok(res)
    ckpt = _checkpoint(tmp_path, "deblurgan/small_cpu")
    assert ckpt["global_step"] == 2 and any(k.startswith("generator.") for k in ckpt["state_dict"])


@pytest.mark.slow  # one subprocess start-up; no rank is started
def test_bad_init_from_is_one_line_before_any_rank(tmp_path):
    res = _run([_console_script(), "fit", "--config", "deblurgan/small_cpu_reblur", *TWO_RANKS,
                "--trainer.strategy=ddp", *LEAN, "--model.init_args.init_from=missing/base.ckpt"], tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out[-3000:]
    errors = [line for line in res.stderr.splitlines() if "error" in line.lower()]
    assert errors == ["blurbench: error: init_from: checkpoint missing/base.ckpt not found — train the base recipe "
                      "first or fix the path"]
    assert "Traceback" not in out and "Initializing distributed" not in out and "[rank" not in out


def test_in_process_main_cannot_start_ddp_ranks(tmp_path, monkeypatch, capsys):
    """main() called from another program (here pytest) must not let Lightning re-run that program as rank 1."""
    from blurbench.cli import main

    monkeypatch.chdir(tmp_path)
    rc = main(["fit", "--config", "blurfield/small_cpu", *TWO_RANKS, "--trainer.strategy=ddp", *LEAN])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert [x for x in err.splitlines() if x.startswith("blurbench: error")] == [
        next(x for x in err.splitlines() if "this program is not `blurbench`" in x)]


def test_relaunch_argv0(tmp_path, monkeypatch):
    """What the DDP launcher re-runs: `python -m blurbench`, the console script by absolute path, else nothing."""
    import types

    from blurbench.launch import relaunch_argv0

    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    main.__spec__ = types.SimpleNamespace(name="blurbench.__main__")
    monkeypatch.setattr(sys, "argv", ["/x/blurbench/__main__.py", "fit"])
    assert relaunch_argv0() == "/x/blurbench/__main__.py"  # the launcher uses `-m blurbench.__main__`
    main.__spec__ = types.SimpleNamespace(name="pytest")
    assert relaunch_argv0() is None
    main.__spec__ = None
    script = tmp_path / "bin" / "blurbench"
    script.parent.mkdir()
    script.write_text("#!/usr/bin/env python\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["bin/blurbench", "fit"])
    assert relaunch_argv0() == str(script.resolve())  # absolute: valid from any directory
    monkeypatch.setattr(sys, "argv", ["bin/pytest", "fit"])
    assert relaunch_argv0() is None
