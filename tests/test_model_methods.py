"""Anything that is a model is a method: @FILE.yaml, Python objects, missing weights, model-source forms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import blurbench
from blurbench.errors import ConfigError, DataError
from blurbench.tasks.registry import get_method, methods
from blurbench.zoo import load
from blurbench.zoo.carbajal import BlurFieldNet

from .conftest import run_cli


def _rows(run: Path) -> dict[tuple[str, str], dict[str, float]]:
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines() if line.strip()]
    return {(r["method"], r["id"]): r["metrics"] for r in rows}


def test_python_api_scores_a_module_and_a_function_like_the_registered_method(tmp_path: Path) -> None:
    entries = blurbench.evaluate(torch.nn.Identity(), task="deblurring", name="my-identity", datasets=["motion"],
                                 baselines=["identity"], out=tmp_path / "run", limit=2, progress=False)
    by_method = {e["method"]: e for e in entries}
    assert set(by_method) == {"my-identity", "identity"}
    assert by_method["my-identity"]["metrics"] == by_method["identity"]["metrics"]  # same pixels, same numbers
    assert by_method["my-identity"]["provenance"]["config_hash"] != by_method["identity"]["provenance"]["config_hash"]

    # a GAN-range function: [0,1] -> [-1,1] -> [0,1] round trip must give the same pixels again
    entries = blurbench.evaluate(lambda x: x.clone(), task="deblurring", name="gan-range", io_range=(-1, 1),
                                 datasets=["motion"], out=tmp_path / "run", limit=2, progress=False)
    gan = next(e for e in entries if e["method"] == "gan-range")
    assert gan["metrics"]["psnr"] == pytest.approx(by_method["identity"]["metrics"]["psnr"], abs=1e-4)
    with pytest.raises(ConfigError, match="which task"):
        blurbench.evaluate(torch.nn.Identity(), datasets=["motion"], out=tmp_path / "x")


def test_yaml_methods_task_class_and_plain_module(tmp_path: Path) -> None:
    (tmp_path / "tv.yaml").write_text("name: my-tv\nclass_path: blurbench.tasks.nonblind.OracleFieldDeconvolution\n"
                                      "init_args: {solver: tv, iterations: 3, tv_weight: 0.003}\n")
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 3, 1)
    from safetensors.torch import save_file

    save_file(conv.state_dict(), str(tmp_path / "conv.safetensors"))
    (tmp_path / "net.yaml").write_text("class_path: torch.nn.Conv2d\ninit_args: {in_channels: 3, out_channels: 3, "
                                       "kernel_size: 1}\ntask: deblurring\nweights: conv.safetensors\n")
    spec = get_method(f"@{tmp_path / 'tv.yaml'}")
    assert (spec.name, spec.task, spec.config["iterations"]) == ("my-tv", "deblurring", 3)
    net_spec = get_method(f"@{tmp_path / 'net.yaml'}")
    task = net_spec.build()
    x = torch.rand(1, 3, 40, 40)
    torch.testing.assert_close(task.restore({"blurry": x}), conv(x))
    assert task.weights_sha256() is not None  # the weights file's digest goes into provenance
    (tmp_path / "bad.yaml").write_text("class_path: no.such.Module\n")
    with pytest.raises(ConfigError, match="cannot import"):
        get_method(f"@{tmp_path / 'bad.yaml'}")


def test_missing_weights_one_line_and_out_of_the_default_set(tmp_path: Path) -> None:
    spec = get_method("carbajal2021")  # registered even without its 319 MB weights
    assert spec.missing_weights() == ["carbajal2021"]
    res = run_cli("evaluate", "--methods", "carbajal2021", "--datasets", "motion", "--out", str(tmp_path / "r"),
                  env={"BLURBENCH_CACHE": str(tmp_path / "cache"), "HF_HUB_CACHE": str(tmp_path / "hf")})
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "needs the weights of carbajal2021" in res.stderr and "`blurbench zoo pull carbajal2021`" in res.stderr
    from blurbench.evaluation import plan

    default = {m.name for m in plan("builtin", None, ["motion"]).methods}
    assert "carbajal2021" not in default and "blurfield-small" in default
    listed = json.loads(run_cli("methods", "--json").stdout)
    row = next(r for r in listed if r["name"] == "carbajal2021")
    assert row["runnable"] is False and row["missing"] == ["blurbench zoo pull carbajal2021"]
    assert {m.name for m in methods()} == {r["name"] for r in listed}


def test_model_source_forms(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = BlurFieldNet(base_width=2, num_basis=3).eval()
    raw = tmp_path / "mine.pth"
    torch.save(net.state_dict(), raw)
    with pytest.raises(ConfigError, match="does not say which network"):
        load(str(raw))
    loaded = load(str(raw), arch="BlurFieldNet", ctor_args={"base_width": 2, "num_basis": 3})
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(loaded(x), net(x)))
    with pytest.raises(DataError, match="checksum mismatch"):
        load(f"{raw}#sha256={'0' * 64}", arch="BlurFieldNet", ctor_args={"base_width": 2, "num_basis": 3})
    with pytest.raises(ConfigError, match="not a sha256"):
        load(f"{raw}#sha256=xyz", arch="BlurFieldNet")
    with pytest.raises(ConfigError, match="not found"):
        get_method(str(tmp_path / "absent"))  # looks like a path: named as one, with the accepted forms
    with pytest.raises(ConfigError, match="unknown method"):
        get_method("no-such-method")
    # a shipped zoo name used as a method gives the registered network's task and io range
    spec = get_method("deblurgan-small")  # registered method of that name
    assert spec.needs_weights == ("deblurgan-small",)
    assert load("deblurgan-small").zoo_config["io_range"] == [-1.0, 1.0]
