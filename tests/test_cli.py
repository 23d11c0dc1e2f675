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
