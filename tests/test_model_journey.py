"""A user's whole journey with models we did not ship, through the CLI as they would type it.

Official-layout checkpoints with random values (DeblurGAN v1 ``latest_net_G.pth``, DeblurGAN-v2
``fpn_mobilenet.h5``, the Carbajal et al. network) → ``zoo pull --local-file --sha256`` / ``zoo convert`` →
``fit --config deblurgan/gopro_reblur`` for 2 generator steps on a tiny GoPro tree with F = the converted
Carbajal net → ``zoo export`` → ``evaluate --suite gopro --methods <exported dir>,<zoo name>,identity`` →
``zoo push`` to the local Hub emulator → ``zoo results`` gives the same numbers → ``evaluate --methods
hf-hub:ORG/NAME`` scores the same samples identically.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from blurbench.zoo.carbajal import BlurFieldNet
from blurbench.zoo.deblurgan import DeblurGANGenerator
from blurbench.zoo.deblurganv2 import deblurganv2_fpn_mobilenet

from .conftest import run_cli
from .hub_server import FakeHub
from .test_architectures import _fake_official_v2

pytestmark = pytest.mark.slow
SIZE = 72  # >= 33 + a margin: the 'valid' reblur loss with K = 33 and the blur-field net's 32-px minimum


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


def _gopro_tree(root: Path) -> Path:
    """GOPRO_Large/{train,test}/SEQ/{blur,blur_gamma,sharp}/NNNNNN.png with real photo crops, box-blurred."""
    from skimage import data

    photo = data.astronaut()[:, :, ::-1]  # RGB -> BGR for cv2
    base = root / "GOPRO_Large"
    k = 0
    for split, seqs in (("train", {"GOPR0372_07_00": 2}), ("test", {"GOPR0384_11_00": 2, "GOPR0410_11_00": 1})):
        for seq, n in seqs.items():
            for i in range(1, n + 1):
                y, x = 40 + 60 * k, 30 + 50 * k
                sharp = np.ascontiguousarray(photo[y:y + SIZE, x:x + SIZE])
                blur = cv2.blur(sharp, (1, 9))  # a horizontal 9-px motion
                for sub, img in (("sharp", sharp), ("blur", blur), ("blur_gamma", blur)):
                    path = base / split / seq / sub / f"{i:06d}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    assert cv2.imwrite(str(path), img)
                k += 1
    return root


def _save(obj: object, path: Path) -> str:
    torch.save(obj, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(run: Path, method: str) -> dict[str, dict[str, float]]:
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines() if line.strip()]
    return {r["id"]: r["metrics"] for r in rows if r["method"] == method}


def test_official_checkpoints_to_fine_tune_evaluate_publish(tmp_path: Path, hub: FakeHub) -> None:
    torch.manual_seed(0)
    env = hub.env(tmp_path / "hf") | {"BLURBENCH_CACHE": str(tmp_path / "bb"), "BLURBENCH_ALLOW_SUBSET": "0"}
    tree = _gopro_tree(tmp_path / "data")

    # the official files, random values: v1 is a DataParallel state dict, v2 {'model': ...} with aliases, Carbajal
    # a plain state dict (at width 4: the released key layout, a CPU-sized network)
    v1_sha = _save({f"module.{k}": v for k, v in DeblurGANGenerator().state_dict().items()},
                   tmp_path / "latest_net_G.pth")
    official_v2, _ = _fake_official_v2(deblurganv2_fpn_mobilenet(), "fpn_mobilenet")  # {'model': {'module.…'}}
    v2_sha = _save(official_v2, tmp_path / "fpn_mobilenet.h5")
    _save(BlurFieldNet(base_width=4).state_dict(), tmp_path / "carbajal.pth")

    def cli(*args: str, ok: bool = True):
        res = run_cli(*args, env=env, cwd=tmp_path, timeout=900)
        if ok:
            assert res.returncode == 0, f"{args}: {res.stderr[-3000:]}"
        return res

    # pull with a digest the user checked: recorded, so later loads by name verify against it
    cli("zoo", "pull", "deblurgan-v1", "--local-file", str(tmp_path / "latest_net_G.pth"), "--sha256", v1_sha)
    cli("zoo", "pull", "deblurganv2-fpn-mobilenet", "--local-file", str(tmp_path / "fpn_mobilenet.h5"),
        "--sha256", v2_sha)
    cli("zoo", "convert", "--arch", "BlurFieldNet", "--arg", "base_width=4", "--checkpoint",
        str(tmp_path / "carbajal.pth"), "--out", str(tmp_path / "F"), "--model-name", "carbajal-random")

    # fine-tune the pulled v1 by name with the paper's reblur recipe, F = the converted directory
    fit = cli("fit", "--config", "deblurgan/gopro_reblur", "--data.init_args.root", str(tree),
              "--data.init_args.crop_size", "64", "--data.init_args.num_workers", "0", "--data.init_args.allow_subset",
              "true",
              "--model.init_args.init_from", "deblurgan-v1", "--model.init_args.blurfield", str(tmp_path / "F"),
              "--model.init_args.content", "l1", "--trainer.max_steps", "2", "--trainer.accelerator", "cpu",
              "--trainer.devices", "1", "--trainer.strategy", "auto", "--trainer.limit_val_batches", "0",
              "--trainer.logger", "false", "--trainer.enable_progress_bar", "false")
    ckpt = tmp_path / "runs/deblurgan/gopro_reblur/checkpoints/last.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["global_step"] == 2, fit.stderr[-2000:]  # generator steps (each after 5 critic steps)
    assert not any(k.startswith(("blurfield", "_frozen")) for k in state["state_dict"])  # F stays out

    exported = tmp_path / "my-deblurgan"
    cli("zoo", "export", str(ckpt), "--out", str(exported), "--name", "my-deblurgan", "--recipe",
        "deblurgan/gopro_reblur")
    run = tmp_path / "run"
    res = cli("evaluate", "--suite", "gopro", "--data-root", str(tree), "--datasets", "gopro", "--methods",
              f"{exported},deblurganv2-fpn-mobilenet,identity", "--out", str(run), "--allow-subset", "--no-progress")
    mine, v2, identity = _rows(run, str(exported)), _rows(run, "deblurganv2-fpn-mobilenet"), _rows(run, "identity")
    assert len(mine) == len(v2) == len(identity) == 3, res.stdout
    board = json.loads((run / "leaderboard.json").read_text())["entries"]
    entry = next(e for e in board if e["method"] == str(exported))
    assert entry["split"] == "test (subset 3/1111)"
    assert entry["provenance"]["weights_sha256"] == json.loads((exported / "config.json").read_text())[
        "weights_sha256"]

    cli("zoo", "push", str(exported), "--repo-id", "me/my-deblurgan", "--results", str(run / "leaderboard.json"),
        "--method", str(exported))
    res = cli("zoo", "results", "me/my-deblurgan", "--out", str(tmp_path / "cards"))
    card = json.loads((tmp_path / "cards" / "leaderboard.json").read_text())["entries"]
    assert len(card) == 1 and card[0]["source"] == "model card" and card[0]["n"] == 3
    for metric, value in entry["metrics"].items():
        assert card[0]["metrics"][metric] == pytest.approx(value, rel=1e-6)

    run2 = tmp_path / "run-hub"
    cli("evaluate", "--suite", "gopro", "--data-root", str(tree), "--datasets", "gopro", "--methods",
        "hf-hub:me/my-deblurgan", "--out", str(run2), "--allow-subset", "--no-progress")
    assert _rows(run2, "hf-hub:me/my-deblurgan") == mine

    # bad inputs on the way: one line, exit 2
    bad = cli("evaluate", "--suite", "gopro", "--data-root", str(tree), "--methods", str(tmp_path / "nope"),
              "--out", str(tmp_path / "bad"), ok=False)
    assert bad.returncode == 2 and "nope' not found" in bad.stderr and "Traceback" not in bad.stderr
    subset = cli("evaluate", "--suite", "gopro", "--data-root", str(tree), "--datasets", "gopro", "--methods",
                 "identity", "--out", str(tmp_path / "bad2"), ok=False)
    assert subset.returncode == 2 and "--allow-subset" in subset.stderr
    crop = cli("fit", "--config", "deblurgan/gopro_reblur", "--data.init_args.root", str(tree),
               "--data.init_args.allow_subset", "true", "--data.init_args.crop_size", "512",
               "--model.init_args.init_from", str(exported), "--model.init_args.blurfield", "random",
               "--model.init_args.content", "l1", "--trainer.max_steps", "1", "--trainer.accelerator", "cpu",
               "--trainer.devices", "1", "--trainer.strategy", "auto", ok=False)
    assert crop.returncode == 2 and "smaller than the training crop 512" in crop.stderr
    assert "Traceback" not in crop.stderr and crop.stderr.count("blurbench: error") == 1
    wrong = cli("fit", "--config", "deblurgan/gopro_reblur", "--data.init_args.root", str(tree),
                "--data.init_args.allow_subset", "true", "--model.init_args.init_from", "deblurganv2-fpn-mobilenet",
                "--model.init_args.content", "l1",
                "--trainer.max_steps", "1", "--trainer.accelerator", "cpu", "--trainer.devices", "1",
                "--trainer.strategy", "auto", ok=False)
    assert wrong.returncode == 2 and "generator_arch" in wrong.stderr and "Traceback" not in wrong.stderr
