import pytest

from blurbench.cli import main, resolve_config
from blurbench.errors import ConfigError

from .conftest import run_cli


@pytest.mark.parametrize("command", [[], ["evaluate"], ["leaderboard"], ["data"], ["data", "check"], ["zoo"]])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    assert len(capsys.readouterr().out) > 200


@pytest.mark.parametrize("command", ["fit", "validate", "test", "predict"])
def test_lightning_subcommand_help(command):
    result = run_cli(command, "--help", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--config" in result.stdout and "--trainer" in result.stdout


def test_unknown_preset_lists_presets():
    with pytest.raises(ConfigError, match="neither a file nor a preset"):
        resolve_config("no/such/preset")


def test_data_check_builtin_json(capsys):
    import json

    assert main(["data", "prepare", "builtin"]) == 0
    capsys.readouterr()
    assert main(["data", "check", "builtin", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == [] and report["splits"]["motion"] == 8


def test_predict_writes_same_names(tmp_path):
    from blurbench.datamodules import builtin
    from blurbench.io import read_image

    src = builtin.prepare("motion")
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    (inputs / "a.png").write_bytes((src / "coffee" / "blurry.png").read_bytes())
    (inputs / "sub" / "b.png").write_bytes((src / "rocket" / "blurry.png").read_bytes())
    result = run_cli("predict", "--method", "identity", "--input", str(inputs), "--output", str(tmp_path / "out"),
                     "--accelerator", "cpu", "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")) == \
        ["a.png", "sub/b.png"]
    assert (read_image(tmp_path / "out" / "a.png") == read_image(inputs / "a.png")).all()
    oracle = run_cli("predict", "--method", "rl-oracle", "--input", str(inputs), "--output", str(tmp_path / "o2"))
    assert oracle.returncode == 2 and "ground-truth blur field" in oracle.stderr


def test_lightning_test_command_prints_the_metrics(tmp_path):
    """`blurbench test` with an evaluation task reports the per-sample means it computed (it used to print none)."""
    import json

    from .conftest import run_cli

    res = run_cli("test", "--model", "blurbench.tasks.model_methods.NetworkDeblurring", "--model.model",
                  "deblurgan-small", "--data", "blurbench.datamodules.builtin.BuiltinImageDataModule", "--data.name",
                  "motion", "--trainer.logger", "false", "--trainer.limit_test_batches", "2",
                  "--trainer.enable_progress_bar", "false", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "test/psnr" in res.stdout and "test/ssim" in res.stdout
    assert "Tip:" not in res.stdout + res.stderr  # no third-party adverts
    psnr = float(next(line for line in res.stdout.splitlines() if "test/psnr" in line).split()[-1])
    ev = run_cli("evaluate", "--methods", "deblurgan-small", "--datasets", "motion", "--limit", "2", "--out",
                 str(tmp_path / "run"), "--no-progress")
    assert ev.returncode == 0, ev.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert abs(psnr - sum(r["metrics"]["psnr"] for r in rows) / len(rows)) < 1e-4  # the same mean as evaluate


def test_evaluate_writes_logger_folders_only_when_asked(tmp_path):
    from .conftest import run_cli

    for logger, expected in ((None, set()), ("csv", {"logs"})):
        out = tmp_path / (logger or "none")
        args = ["evaluate", "--methods", "identity", "--datasets", "motion", "--limit", "1", "--out", str(out),
                "--no-report-images"] + (["--logger", logger] if logger else [])
        res = run_cli(*args)
        assert res.returncode == 0, res.stderr[-2000:]
        assert {p.name for p in out.iterdir() if p.is_dir() and p.name in ("logs", "tb")} == expected
        assert "\r" not in res.stderr  # no progress bar drawn into a pipe
        assert not (out / ".partial").exists()  # a clean finish leaves results.jsonl, not the per-rank files
