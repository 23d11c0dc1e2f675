"""Zoo ↔ Hub: pull through a local fake Hub, checksum refusal, offline caches, resume, convert → push → pull."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from blurbench.errors import DataError
from blurbench.zoo import hub as zoo_hub
from blurbench.zoo import load as zoo_load
from blurbench.zoo.carbajal import BlurFieldNet
from blurbench.zoo.cards import entries_from_card
from blurbench.zoo.registry import ModelSpec, WeightSource, register_model, unregister_model

from .conftest import run_cli
from .hub_server import FakeHub

TINY = {"base_width": 2, "num_basis": 3}  # the official key layout, 79k parameters


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


@pytest.fixture()
def env(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point huggingface_hub (read at call time by blurbench) and blurbench's cache at fresh temp dirs."""
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("BLURBENCH_CACHE", str(tmp_path / "bb"))
    return tmp_path


def _tiny_bytes(seed: int) -> tuple[BlurFieldNet, bytes]:
    torch.manual_seed(seed)
    net = BlurFieldNet(**TINY).eval()
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)  # plain state dict in the official layout, like the deepinv file
    return net, buf.getvalue()


def _register(name: str, source: WeightSource) -> None:
    register_model(ModelSpec(name, "BlurFieldNet", "kernel-estimation", "[0,1] RGB", "mit", "test", "tiny",
                             ctor_args=TINY, weights=source), replace=True)


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    x = torch.rand(1, 3, 36, 44, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return all(torch.equal(u, v) for u, v in zip(a(x), b(x)))


@pytest.fixture()
def tiny_on_hub(hub: FakeHub) -> Iterator[tuple[str, BlurFieldNet, bytes, str]]:
    net, data = _tiny_bytes(0)
    commit = hub.add_file("deepinv/tiny-kernel", "tiny.pth", data)
    _register("test-tiny", WeightSource(kind="hub", repo_id="deepinv/tiny-kernel", filename="tiny.pth",
                                        revision=commit, sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
    yield "test-tiny", net, data, commit
    unregister_model("test-tiny")


def test_pull_and_strict_load_from_the_hub(env: Path, hub: FakeHub, tiny_on_hub) -> None:
    name, net, data, commit = tiny_on_hub
    model = zoo_load(name)
    assert _same_outputs(model, net)
    assert model.weights_sha256 == hashlib.sha256(data).hexdigest()
    assert ("HEAD", f"/deepinv/tiny-kernel/resolve/{commit}/tiny.pth", None) in hub.requests  # pinned revision
    blobs = list((env / "hf" / "models--deepinv--tiny-kernel" / "blobs").iterdir())
    assert [b.name for b in blobs] == [hashlib.sha256(data).hexdigest()]  # huggingface_hub's own cache layout


def test_checksum_mismatch_is_refused_and_removed_from_the_cache(env: Path, hub: FakeHub) -> None:
    _, good = _tiny_bytes(0)
    _, tampered = _tiny_bytes(1)  # same size, other values: a changed or corrupted remote file
    commit = hub.add_file("deepinv/tampered", "tiny.pth", tampered)
    _register("test-tampered", WeightSource(kind="hub", repo_id="deepinv/tampered", filename="tiny.pth",
                                            revision=commit, sha256=hashlib.sha256(good).hexdigest(), size=len(good)))
    try:
        with pytest.raises(DataError, match="checksum mismatch") as err:
            zoo_load("test-tampered")
        assert "removed from the cache" in err.value.message
        repo_dir = env / "hf" / "models--deepinv--tampered"
        assert not any(p.is_file() for p in (repo_dir / "blobs").iterdir())
        assert not (repo_dir / "snapshots" / commit / "tiny.pth").exists()
    finally:
        unregister_model("test-tampered")


def test_offline_warm_cache_works_and_cold_cache_explains(env: Path, hub: FakeHub, tiny_on_hub,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    name, net, data, _ = tiny_on_hub
    zoo_hub.pull(name)
    n_requests = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert _same_outputs(zoo_load(name), net)
    assert len(hub.requests) == n_requests  # no network at all

    monkeypatch.setenv("HF_HUB_CACHE", str(env / "cold"))
    with pytest.raises(DataError) as err:
        zoo_load(name)
    text = str(err.value)
    assert "\n" not in text and "HF_HUB_OFFLINE" in text
    assert "deepinv/tiny-kernel" in text and "tiny.pth" in text and "--local-file" in text

    local = env / "downloaded.pth"  # the documented alternative, still offline
    local.write_bytes(data)
    path, _ = zoo_hub.pull(name, local_file=local)
    assert path == env / "bb" / "zoo" / name / "tiny.pth"
    assert _same_outputs(zoo_load(name), net)


def test_cli_offline_cold_cache_one_line_for_the_real_entry(tmp_path: Path) -> None:
    res = run_cli("zoo", "pull", "carbajal2021", env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf"),
                                                      "BLURBENCH_CACHE": str(tmp_path / "bb")})
    assert res.returncode == 2
    line = res.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert ("https://huggingface.co/deepinv/kernel_identification/resolve/83fc8ef1cfa885b48ff453d9bb0bb966db4ce8a3/"
            "carbajal_kernel_identification_network.pth") in line
    assert "--local-file" in line and str(tmp_path / "bb" / "zoo" / "carbajal2021") in line


def test_url_download_resumes_with_range(env: Path, hub: FakeHub) -> None:
    net, data = _tiny_bytes(2)
    url = hub.add_url_file("tiny_official.pth", data)
    hub.truncate_first_get["tiny_official.pth"] = len(data) // 3  # the first transfer breaks off
    _register("test-url", WeightSource(kind="url", url=url, filename="tiny_official.pth",
                                       sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
    try:
        assert _same_outputs(zoo_load("test-url"), net)
        ranges = [r for m, p, r in hub.requests if p == "/files/tiny_official.pth" and r]
        assert ranges == [f"bytes={len(data) // 3}-"]
        target = env / "bb" / "zoo" / "test-url" / "tiny_official.pth"
        assert target.read_bytes() == data and not target.with_name(target.name + ".part").exists()
    finally:
        unregister_model("test-url")


def test_convert_push_pull_round_trip_with_results(env: Path, hub: FakeHub) -> None:
    torch.manual_seed(5)
    net = BlurFieldNet(**TINY).eval()
    critic = torch.nn.Conv2d(3, 1, 3)
    ckpt = env / "run.ckpt"  # what `blurbench fit` writes: Lightning layout, module prefixes
    torch.save({"epoch": 1, "global_step": 7, "pytorch-lightning_version": "2.5.0", "optimizer_states": [],
                "state_dict": {**{f"net.{k}": v for k, v in net.state_dict().items()},
                               **{f"critic.{k}": v for k, v in critic.state_dict().items()}}}, ckpt)
    leaderboard = env / "leaderboard.json"

    def write_results(weights_sha256: str) -> None:
        leaderboard.write_text(json.dumps({"title": "t", "entries": [
            {"task": "kernel-estimation", "method": "tiny-run", "dataset": "motion", "split": "test",
             "protocol": "builtin motion, GT field", "source": "measured", "n": 8,
             "metrics": {"kernel_error": 0.00123, "reblur_psnr": 31.5}, "seconds": 0.2,
             "provenance": {"weights_sha256": weights_sha256}},
            {"task": "deblurring", "method": "identity", "dataset": "motion", "split": "test", "protocol": "",
             "source": "measured", "n": 8, "metrics": {"psnr": 22.0}, "seconds": 0.0}]}))
    out = env / "converted"
    hub_env = hub.env(env / "hf") | {"BLURBENCH_CACHE": str(env / "bb")}

    res = run_cli("zoo", "convert", "blurfield-small", "--arch", "BlurFieldNet", "--arg", "base_width=2",
                  "--arg", "num_basis=3", "--checkpoint", str(ckpt), "--out", str(out), "--model-name", "tiny-run",
                  env=hub_env)
    assert res.returncode == 0, res.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["arch"], cfg["ctor_args"], cfg["task"]) == ("BlurFieldNet", TINY, "kernel-estimation")
    assert cfg["source"]["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert _same_outputs(zoo_hub.load_local(out), net)

    write_results("f" * 64)  # measured with other weights: refused, nothing uploaded
    res = run_cli("zoo", "push", str(out), "--repo-id", "me/tiny-run", "--results", str(leaderboard), env=hub_env)
    assert res.returncode == 2 and "measured with weights sha256 ffffffffffff" in res.stderr
    assert not any(p.startswith("/api/models/me/tiny-run/commit") for _, p, _ in hub.requests)

    write_results(cfg["weights_sha256"])
    res = run_cli("zoo", "push", str(out), "--repo-id", "me/tiny-run", "--results", str(leaderboard), env=hub_env)
    assert res.returncode == 0, res.stderr
    assert {"/api/repos/create", "/api/models/me/tiny-run/preupload/main",
            "/api/models/me/tiny-run/commit/main"} <= {p for m, p, _ in hub.requests if m == "POST"}
    assert hub.get_file("me/tiny-run", "model.safetensors") == (out / "model.safetensors").read_bytes()

    pulled = zoo_load("hf-hub:me/tiny-run")  # fresh HF cache: downloads config.json + model.safetensors
    assert _same_outputs(pulled, net)

    entries = entries_from_card("me/tiny-run")
    assert len(entries) == 1
    e = entries[0]
    assert (e["method"], e["task"], e["dataset"], e["split"], e["source"], e["n"]) == \
        ("tiny-run", "kernel-estimation", "motion", "test", "model card", 8)
    assert e["metrics"] == {"kernel_error": 0.00123, "reblur_psnr": 31.5}
    assert e["protocol"] == "builtin motion, GT field"

    res = run_cli("zoo", "results", "me/tiny-run", "--out", str(env / "lb"), env=hub_env)
    assert res.returncode == 0, res.stderr
    assert "model card" in res.stdout and "31.50" in res.stdout
    assert json.loads((env / "lb" / "leaderboard.json").read_text())["entries"][0]["source"] == "model card"


def test_hub_repo_with_corrupt_weights_is_refused(env: Path, hub: FakeHub, tmp_path: Path) -> None:
    net = BlurFieldNet(**TINY)
    out = zoo_hub.save_local(net, tmp_path / "ours", {"name": "x", "arch": "BlurFieldNet", "ctor_args": TINY})
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    files["model.safetensors"] = files["model.safetensors"][:-4] + b"\0\0\0\0"
    hub.commit("me/corrupt", files)
    with pytest.raises(DataError, match="checksum mismatch"):
        zoo_load("hf-hub:me/corrupt")


def test_exporting_the_same_network_twice_writes_the_same_bytes(tmp_path: Path) -> None:
    """The zoo pins the weights' sha256, so an export must be a function of the weights (it was not with two
    safetensors metadata keys, written in hash-map order)."""
    net = BlurFieldNet(**TINY)
    digests = {hashlib.sha256((zoo_hub.save_local(net, tmp_path / f"e{i}", {"name": "x", "arch": "BlurFieldNet",
                                                                          "ctor_args": TINY})
                               / "model.safetensors").read_bytes()).hexdigest() for i in range(12)}
    assert len(digests) == 1
