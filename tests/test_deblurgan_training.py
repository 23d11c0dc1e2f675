"""DeblurGAN training: losses (WGAN-GP penalty, RaGAN-LS, content), alignment, schedule, export, CLI steps."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from blurbench.errors import ConfigError, DataError
from blurbench.ops.reblur import reblur
from blurbench.tasks.deblurgan import PRESETS, DeblurGANTraining, align_sharp, from_gan_range, to_gan_range
from blurbench.tasks.losses import ContentLoss, GANLoss, gradient_penalty
from blurbench.zoo.vgg import vgg19_conv3_3

from .conftest import run_cli

TINY = {"generator_args": {"ngf": 4, "n_blocks": 1}, "critic_args": {"ndf": 4, "n_layers": 2}, "content": "l1"}


class Linear(nn.Module):
    """D(x) = <w, x> per sample: ∇D = w everywhere."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).sum((1, 2, 3)).view(-1, 1, 1, 1)


class HalfSquare(nn.Module):
    """D(x) = ½||x||² per sample: ∇D = x, so the penalty depends on where the interpolate lies."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x**2).sum((1, 2, 3)).view(-1, 1, 1, 1)


def test_gradient_penalty_linear_critic_is_norm_of_weights():
    w = torch.randn(1, 3, 5, 4)
    real, fake = torch.randn(3, 3, 5, 4), torch.randn(3, 3, 5, 4)
    gp = gradient_penalty(Linear(w), real, fake)
    assert gp.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)


def test_gradient_penalty_uses_interpolates_per_sample():
    real, fake = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    alpha = torch.tensor([0.25, 0.9])
    gp = gradient_penalty(HalfSquare(), real, fake, alpha)
    x_hat = alpha.view(2, 1, 1, 1) * real + (1 - alpha.view(2, 1, 1, 1)) * fake
    expected = ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert gp.item() == pytest.approx(expected.item(), rel=1e-5)
    # differentiable w.r.t. the critic's parameters (create_graph), as WGAN-GP needs
    lin = Linear(torch.randn(1, 3, 4, 4))
    gradient_penalty(lin, real, fake).backward()
    assert lin.w.grad is not None and lin.w.grad.abs().sum() > 0


def test_wgan_gp_losses_on_linear_critic():
    w = torch.randn(1, 3, 4, 4)
    real, fake = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    critic, gan = Linear(w), GANLoss("wgan-gp", gp_weight=10.0)
    loss, logs = gan.critic_loss(critic, real, fake)
    wdist = (real * w).sum((1, 2, 3)).mean() - (fake * w).sum((1, 2, 3)).mean()
    assert logs["wasserstein"].item() == pytest.approx(wdist.item(), rel=1e-5)
    assert loss.item() == pytest.approx(-wdist.item() + 10 * (w.norm().item() - 1) ** 2, rel=1e-5)
    assert gan.generator_loss(critic, real, fake).item() == pytest.approx(-(fake * w).sum((1, 2, 3)).mean().item(),
                                                                         rel=1e-5)


def test_ragan_ls_optimum():
    gan = GANLoss("ragan-ls")
    real, fake = torch.ones(2, 3, 4, 4), -torch.ones(2, 3, 4, 4)
    critic = Linear(torch.full((1, 3, 4, 4), 1 / 96))  # D(real) = 0.5, D(fake) = -0.5: the critic's optimum
    loss, _ = gan.critic_loss(critic, real, fake)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert gan.generator_loss(critic, real, fake).item() == pytest.approx(4.0, rel=1e-5)  # ½((0.5+.5+1)²+(…)²)
    with pytest.raises(ConfigError):
        GANLoss("hinge")


def test_content_loss_perceptual_needs_local_weights(tmp_path):
    with pytest.raises(ConfigError) as err:
        ContentLoss("perceptual", vgg_weights=str(tmp_path / "vgg19.pth")).load()  # lazy: no disk in __init__
    assert "vgg19.pth" in err.value.message and "content: l1" in err.value.fix
    net = vgg19_conv3_3()
    assert len(net) == 15 and isinstance(net[14], nn.Conv2d) and net[14].out_channels == 256
    torch.save({f"features.{k}": v for k, v in net.state_dict().items()}, tmp_path / "vgg19.pth")
    loss = ContentLoss("perceptual", vgg_weights=str(tmp_path / "vgg19.pth"))
    x, y = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    assert loss(x, x).item() == 0 and loss(x, y).item() > 0
    assert not any(k.startswith("_vgg") or "vgg" in k for k in loss.state_dict())  # not in checkpoints
    torch.save({"classifier.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(DataError):
        ContentLoss("perceptual", vgg_weights=str(tmp_path / "bad.pth")).load()


def test_content_loss_reads_torchvision_layout_through_the_zoo(tmp_path, monkeypatch):
    # torchvision's file holds all 37 features and the classifier: only features.0..14 are read
    net = vgg19_conv3_3()
    full = {f"features.{k}": v for k, v in net.state_dict().items()}
    full.update({"features.16.weight": torch.zeros(256, 256, 3, 3), "classifier.0.weight": torch.zeros(2, 2)})
    torch.save(full, tmp_path / "vgg19-dcbb9e9d.pth")
    loss = ContentLoss("perceptual", vgg_weights=str(tmp_path / "vgg19-dcbb9e9d.pth"))
    loss.load()
    torch.testing.assert_close(loss._vgg[0][14].weight, net[14].weight, rtol=0, atol=0)
    # no file given: the zoo entry, offline and not cached, is a one-line error that says how to get it
    monkeypatch.setenv("BLURBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as err:
        ContentLoss("perceptual").load()
    assert "vgg19-dcbb9e9d.pth" in err.value.message and "zoo pull vgg19-conv3-3" in err.value.fix


def test_align_sharp_matches_valid_correlation_centre():
    k = 7
    sharp = torch.rand(2, 3, 20 + k - 1, 18 + k - 1)
    delta = torch.zeros(2, 1, k, k)
    delta[..., k // 2, k // 2] = 1  # a centred delta: 'valid' blur = the centre crop
    blurry = reblur(sharp, delta, torch.ones(2, 1, 20, 18), padding="valid")
    torch.testing.assert_close(align_sharp(sharp, blurry), blurry)
    assert align_sharp(blurry, blurry) is blurry
    with pytest.raises(DataError):
        align_sharp(sharp[..., :-1, :], blurry)
    x = torch.rand(2, 3, 5, 5)
    torch.testing.assert_close(from_gan_range(to_gan_range(x)), x)


def test_presets_and_schedule():
    m = DeblurGANTraining(**TINY)
    assert m.cfg["critic_steps"] == 5 and m.cfg["gp_weight"] == 10 and m.cfg["content_weight"] == 100
    assert m.cfg["lr"] == 1e-4 and tuple(m.cfg["betas"]) == (0.5, 0.999)
    assert [m.lr_factor(e) for e in (0, 149)] == [1.0, 1.0]
    assert m.lr_factor(150) == 1.0 and m.lr_factor(151) == pytest.approx(1 - 1 / 150)
    assert m.lr_factor(299) == pytest.approx(1 / 150)  # the last epoch still trains (official schedule)
    v2 = DeblurGANTraining(preset="v2", **TINY)
    assert v2.cfg["gan_loss"] == "ragan-ls" and v2.cfg["critic_steps"] == 1
    assert v2.lr_factor(10_000) == pytest.approx(PRESETS["v2"]["min_lr"] / 1e-4)
    assert DeblurGANTraining(critic_steps=2, **TINY).cfg["critic_steps"] == 2  # explicit beats preset
    with pytest.raises(ConfigError):
        DeblurGANTraining(preset="v3", **TINY)


def _batch(n: int = 2, h: int = 24, k: int = 5) -> dict:
    return {"blurry": torch.rand(n, 3, h, h), "sharp": torch.rand(n, 3, h + k - 1, h + k - 1),
            "id": [f"s{i}" for i in range(n)]}


def test_training_step_updates_both_networks_and_critic_gets_no_generator_grads():
    import lightning as L

    m = DeblurGANTraining(critic_steps=2, **TINY)
    g0 = [p.detach().clone() for p in m.generator.parameters()]
    c0 = [p.detach().clone() for p in m.critic.parameters()]
    trainer = L.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    loader = torch.utils.data.DataLoader([{k: v[0] if k != "id" else "a" for k, v in _batch(1).items()}] * 2,
                                         batch_size=2)
    trainer.fit(m, train_dataloaders=loader)
    assert any(not torch.equal(a, b) for a, b in zip(g0, m.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(c0, m.critic.parameters()))
    assert all(p.requires_grad for p in m.critic.parameters())  # restored after the generator step


def test_export_then_evaluate_as_a_method(tmp_path):
    from blurbench.tasks.model_methods import NetworkDeblurring
    from blurbench.tasks.registry import get_method

    m = DeblurGANTraining(**TINY)
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": m.state_dict(), "hyper_parameters": dict(m.hparams), "epoch": 3, "global_step": 7},
               ckpt)
    out = tmp_path / "w"
    res = run_cli("zoo", "export", str(ckpt), "--out", str(out), "--name", "tiny-gan", "--recipe",
                  "deblurgan/small_cpu", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["arch"] == "DeblurGANGenerator" and cfg["ctor_args"] == TINY["generator_args"]
    assert cfg["task"] == "deblurring" and cfg["io_range"] == [-1.0, 1.0]
    assert cfg["recipe"]["global_step"] == 7 and cfg["name"] == "tiny-gan"
    assert "blurbench fit --config deblurgan/small_cpu" in cfg["recipe"]["command"]
    spec = get_method(str(out))  # a directory is a method: deblurring on image datasets
    assert (spec.task, spec.data_kind) == ("deblurring", "image")
    task = spec.build()
    assert isinstance(task, NetworkDeblurring) and task.weights_sha256() == cfg["weights_sha256"]
    x = torch.rand(1, 3, 21, 19)
    m.eval()
    torch.testing.assert_close(task.restore({"blurry": x}), from_gan_range(m.generator(to_gan_range(x))))
    weights = out / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")  # same size, different content
    with pytest.raises(DataError, match="sha256"):
        NetworkDeblurring(str(out))


@pytest.mark.parametrize("form", ["converted directory", "checkpoint of another run"])
def test_init_from_another_size_names_the_generator_args_to_set(tmp_path, form):
    from blurbench.zoo.deblurgan import DeblurGANGenerator

    theirs = {"ngf": 6, "n_blocks": 2, "use_dropout": False}
    if form == "converted directory":  # a user's own model, through `blurbench zoo convert`
        torch.save(DeblurGANGenerator(**theirs).state_dict(), tmp_path / "mine.pth")
        res = run_cli("zoo", "convert", "--arch", "DeblurGANGenerator", "--arg", "ngf=6", "--arg", "n_blocks=2",
                      "--arg", "use_dropout=false", "--checkpoint", "mine.pth", "--out", "mine", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        source = str(tmp_path / "mine")
    else:
        other = DeblurGANTraining(**{**TINY, "generator_args": theirs})
        source = str(tmp_path / "other.ckpt")
        torch.save({"state_dict": other.state_dict(), "hyper_parameters": dict(other.hparams), "epoch": 0,
                    "global_step": 1}, source)
    with pytest.raises(ConfigError) as err:
        DeblurGANTraining(**TINY, init_from=source).prepare_training()
    expected = json.dumps(theirs, sort_keys=True)
    assert f"built with {expected}" in str(err.value) and f"generator_args '{expected}'" in err.value.fix
    m = DeblurGANTraining(**{**TINY, "generator_args": json.loads(expected)}, init_from=source)
    m.prepare_training()  # the suggested setting loads the weights
    ref = DeblurGANGenerator(**theirs)
    assert m.generator.state_dict().keys() == ref.state_dict().keys()
    assert all(v.shape == ref.state_dict()[k].shape for k, v in m.generator.state_dict().items())


@pytest.mark.slow  # a subprocess with Lightning start-up and data preparation
def test_fit_fast_dev_run_cli(tmp_path):
    res = run_cli("fit", "--config", "deblurgan/small_cpu", "--trainer.fast_dev_run=true",
                  "--data.init_args.bank_size=32", "--data.init_args.crop_size=48",
                  "--data.init_args.eval_crop_size=48",
                  "--data.init_args.num_workers=0", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "max_steps=1` reached" in res.stdout + res.stderr


def test_fit_perceptual_without_weights_is_one_line_error(tmp_path, monkeypatch, capsys):
    from blurbench.cli import main

    monkeypatch.chdir(tmp_path)  # in-process (the error comes before any training): no subprocess start-up
    rc = main(["fit", "--config", "deblurgan/small_cpu", "--trainer.fast_dev_run=true",
               "--model.init_args.content=perceptual", f"--model.init_args.vgg_weights={tmp_path}/none.pth",
               "--data.init_args.bank_size=8"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    line = [x for x in err.splitlines() if x.startswith("blurbench: error:")]
    assert len(line) == 1 and "VGG19 weights" in line[0] and "none.pth" in line[0]
