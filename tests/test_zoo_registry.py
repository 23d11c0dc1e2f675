"""Zoo registry: every entry is complete and builds; shipped-weights sidecars; safe, strict, loud loading."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import torch

from blurbench.errors import ConfigError, DataError
from blurbench.zoo import hub as zoo_hub
from blurbench.zoo import load as zoo_load
from blurbench.zoo import registry
from blurbench.zoo.carbajal import CARBAJAL2021_NUM_PARAMS, BlurFieldNet
from blurbench.zoo.registry import ModelSpec, WeightSource, get_model_spec, list_models, register_model

from .conftest import run_cli

EXPECTED = {"carbajal2021", "blurfield-small", "drunet-color", "deblurgan-v1", "deblurganv2-fpn-mobilenet",
            "deblurganv2-fpn-inception"}
HEAVY = {"carbajal2021", "deblurganv2-fpn-inception"}  # 80M / 50M+ parameters: slow to build


def test_every_method_issue_model_is_registered() -> None:
    assert EXPECTED <= set(list_models())
    shipped = {"deblurgan-small", "deblurgan-small-resume", "deblurgan-small-reblur", "deblurgan-small-reblur-gt",
               "blurfield-small-sharp"}
    losses = {"vgg19-conv3-3"}  # the perceptual loss's network
    assert set(list_models(pretrained=True)) == (EXPECTED | shipped | losses) - {"deblurgan-v1"}  # link is dead
    assert list_models("deblurganv2-*") == ["deblurganv2-fpn-inception", "deblurganv2-fpn-mobilenet"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_entry_metadata_is_complete_and_consistent(name: str) -> None:
    spec = get_model_spec(name)
    assert spec.task and spec.input_convention and spec.license and spec.paper and spec.description
    assert spec.arch in registry.ARCHITECTURES
    w = spec.weights
    assert w is not None and w.filename
    if w.kind == "hub":  # pinned, so the sha256 stays true
        assert re.fullmatch(r"[0-9a-f]{40}", w.revision or "") and w.repo_id and w.sha256 and w.size
    if w.kind == "url":
        assert w.url and w.url.startswith("https://") and w.size
    if w.sha256 is not None:
        assert re.fullmatch(r"[0-9a-f]{64}", w.sha256)
    if w.kind == "none":
        assert "dead" in w.note and w.sha256 is None


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n
                                  for n in sorted(EXPECTED)])
def test_every_entry_builds_and_runs(name: str) -> None:
    model = zoo_load(name, pretrained=False).eval()
    x = torch.rand(1, 3 if "drunet" not in name else 3, 64, 64)
    with torch.no_grad():
        out = model(x, 0.05) if "drunet" in name else model(x * 2 - 1 if "deblurgan" in name else x)
    if name in ("carbajal2021", "blurfield-small"):
        kernels, mixing = out
        assert kernels.shape == (1, 25, 33, 33) and mixing.shape == (1, 25, 64, 64)
        torch.testing.assert_close(kernels.sum((-1, -2)), torch.ones(1, 25))
    else:
        assert out.shape == (1, 3, 64, 64)
    if name == "carbajal2021":
        assert sum(p.numel() for p in model.parameters()) == CARBAJAL2021_NUM_PARAMS


def test_duplicate_name_raises_and_unknown_name_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model(get_model_spec("drunet-color"))
    with pytest.raises(ConfigError, match="unknown zoo model 'nope'"):
        get_model_spec("nope")


def test_zoo_list_cli_table_and_json() -> None:
    res = run_cli("zoo", "list")
    assert res.returncode == 0, res.stderr
    for name in EXPECTED:
        assert name in res.stdout
    assert "a869f73b1902" in res.stdout and "UNVERIFIED" in res.stdout and "dead" in res.stdout
    res = run_cli("zoo", "list", "--json")
    data = {e["name"]: e for e in json.loads(res.stdout)}
    assert data["drunet-color"]["weights"]["sha256"].startswith("479abe3c")
    assert data["deblurganv2-fpn-inception"]["weights"]["size"] == 244_480_361
    assert data["deblurganv2-fpn-mobilenet"]["weights"]["sha256"] is None


def test_unverified_source_is_refused_before_any_download() -> None:
    with pytest.raises(ConfigError, match="no known sha256.*refusing") as err:
        zoo_load("deblurganv2-fpn-mobilenet")
    assert "--sha256" in err.value.fix and "allow_unverified=True" in err.value.fix


# ------------------------------------------------------------------------------------------ shipped files
SHIPPED = [n for n in list_models() if get_model_spec(n).weights.kind == "package"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_are_ordinary_pinned_zoo_entries(name: str) -> None:
    spec = get_model_spec(name)
    folder = registry.shipped_weights_dir() / spec.weights.filename
    cfg = json.loads((folder / "config.json").read_text())
    data = (folder / "model.safetensors").read_bytes()
    assert hashlib.sha256(data).hexdigest() == spec.weights.sha256 == cfg["weights_sha256"]
    assert len(data) == spec.weights.size
    assert (cfg["arch"], cfg["ctor_args"], cfg["task"]) == (spec.arch, spec.ctor_args, spec.task)
    assert tuple(cfg["io_range"]) == spec.io_range
    model = zoo_load(name)
    assert model.weights_sha256 == spec.weights.sha256 and model.zoo_config["task"] == spec.task


def test_tampered_shipped_weights_are_refused_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = registry.shipped_weights_dir() / "blurfield-small"
    (tmp_path / "blurfield-small").mkdir()
    data = (src / "model.safetensors").read_bytes()
    target = tmp_path / "blurfield-small" / "model.safetensors"
    target.write_bytes(data[:-8] + b"\0" * 8)  # same size, different bytes
    monkeypatch.setattr(zoo_hub, "shipped_weights_dir", lambda: tmp_path)
    with pytest.raises(DataError, match="checksum mismatch"):
        zoo_load("blurfield-small")
    assert target.exists()  # a package file is never deleted


# --------------------------------------------------------------------------------------------- reading
class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickled_code_is_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _Evil(str(marker))}, ckpt)
    with pytest.raises(DataError, match="refusing to unpickle") as err:
        zoo_hub.read_checkpoint(ckpt)
    assert not marker.exists()
    assert "never executes pickled code" in err.value.fix


@pytest.mark.parametrize("content", [b"garbage\n", b"<!DOCTYPE html><title>404</title>"])
def test_a_file_that_is_no_checkpoint_is_named_as_such(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(DataError, match="not a PyTorch checkpoint") as err:
        zoo_hub.read_checkpoint(path)
    assert "refusing" not in str(err.value) and str(path) in str(err.value)


def test_strict_load_reports_every_bad_key() -> None:
    model = BlurFieldNet(base_width=2, num_basis=3)
    sd = model.state_dict()
    sd.pop("inc_rgb.0.weight")
    sd["extra.weight"] = torch.zeros(1)
    sd["feat.0.bias"] = torch.zeros(5)
    with pytest.raises(DataError) as err:
        zoo_hub.load_state_dict_strict(model, sd, "test")
    msg = err.value.message
    assert "1 missing ['inc_rgb.0.weight']" in msg and "1 unexpected ['extra.weight']" in msg
    assert "feat.0.bias (5,)!=(32,)" in msg


def test_lightning_checkpoint_prefix_is_found_and_other_modules_dropped() -> None:
    net = BlurFieldNet(base_width=2, num_basis=3)
    critic = torch.nn.Conv2d(3, 1, 3)
    ckpt = {"epoch": 3, "global_step": 10, "pytorch-lightning_version": "2.5.0", "optimizer_states": [],
            "state_dict": {**{f"net.{k}": v for k, v in net.state_dict().items()},
                           **{f"critic.{k}": v for k, v in critic.state_dict().items()}}}
    sd = zoo_hub.convert_checkpoint(ckpt, "state_dict", set(net.state_dict()))
    assert set(sd) == set(net.state_dict())
    assert zoo_hub.convert_checkpoint(ckpt, "state_dict", set(net.state_dict()), prefix="critic.").keys() == \
        critic.state_dict().keys()


def test_deblurgan_v1_official_layout_converts_through_the_registry_converter() -> None:
    gen = zoo_load("deblurgan-v1", pretrained=False)
    official = {f"module.{k}": v for k, v in gen.state_dict().items()}
    official["model.2.running_mean"] = torch.zeros(64)  # legacy InstanceNorm statistics (PyTorch <= 0.3)
    sd = zoo_hub.convert_checkpoint(official, get_model_spec("deblurgan-v1").weights.converter,
                                    set(gen.state_dict()))
    zoo_hub.load_state_dict_strict(gen, sd, "deblurgan-v1")


def test_register_custom_entry_for_tests_only() -> None:
    spec = ModelSpec("test-registry-tmp", "BlurFieldNet", "kernel-estimation", "x", "mit", "p", "d",
                     ctor_args={"base_width": 2}, weights=WeightSource(kind="none", filename="f", note="dead"))
    register_model(spec)
    try:
        assert "test-registry-tmp" in list_models("test-*")
        assert "test-registry-tmp" not in list_models("test-*", pretrained=True)
    finally:
        registry.unregister_model("test-registry-tmp")


def test_dead_link_entry_loads_a_user_copy_only_when_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLURBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="dead"):
        zoo_hub.pull("deblurgan-v1")
    gen = zoo_load("deblurgan-v1", pretrained=False)
    copy = tmp_path / "latest_net_G.pth"
    torch.save({f"module.{k}": v for k, v in gen.state_dict().items()}, copy)  # official DataParallel layout
    with pytest.raises(ConfigError, match="refusing"):
        zoo_hub.pull("deblurgan-v1", local_file=copy)
    loaded = zoo_load("deblurgan-v1", local_file=copy, allow_unverified=True)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), gen.state_dict().values()))
    digest = loaded.weights_sha256
    assert zoo_load("deblurgan-v1", sha256=digest).weights_sha256 == digest  # the cached copy, verified
    with pytest.raises(DataError, match="checksum mismatch.*removed"):  # a failing cached copy is dropped
        zoo_load("deblurgan-v1", sha256="0" * 64)
    assert not (tmp_path / "cache" / "zoo" / "deblurgan-v1" / "latest_net_G.pth").exists()
    assert zoo_load("deblurgan-v1", local_file=copy, sha256=digest).weights_sha256 == digest
