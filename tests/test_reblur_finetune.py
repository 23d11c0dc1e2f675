"""Reblur-consistency fine-tuning: exactness of the loss, frozen F, field cache, control, CLI steps."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from blurbench.errors import ConfigError
from blurbench.ops.reblur import reblur
from blurbench.tasks.deblurgan import DeblurGANTraining, align_sharp, to_gan_range
from blurbench.tasks.reblur_finetune import ReblurFinetune, consistency_operator, reblur_consistency

from .conftest import run_cli

TINY = {"generator_args": {"ngf": 4, "n_blocks": 1}, "critic_args": {"ndf": 4, "n_layers": 2}, "content": "l1"}
K = 9


@pytest.fixture
def pretrained(tmp_path) -> str:
    path = tmp_path / "gen.safetensors"
    save_file(DeblurGANTraining(**TINY).generator.state_dict(), str(path))
    return str(path)


def _field(n: int, b: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    kernels = torch.softmax(torch.randn(n, b, K * K) * 3, -1).view(n, b, K, K)
    mixing = torch.softmax(torch.randn(n, b, h, w) * 2, 1)
    return kernels, mixing


class FixedField(nn.Module):
    """A stand-in for F returning a given field (and counting calls)."""

    def __init__(self, kernels: torch.Tensor, mixing: torch.Tensor) -> None:
        super().__init__()
        self.kernels, self.mixing, self.calls = kernels, mixing, 0
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        return self.kernels[: len(x)], self.mixing[: len(x)]


@pytest.mark.parametrize("gamma", [1.0, 2.2])
def test_reblur_loss_is_zero_for_sharp_image_and_gt_field(pretrained, gamma):
    n, h, w = 2, 40, 36
    sharp = torch.rand(n, 3, h + K - 1, w + K - 1)  # 'valid' convention, as SyntheticBlurDataModule gives
    kernels, mixing = _field(n, 3, h, w)
    blurry = reblur(sharp.pow(gamma), kernels, mixing, "valid").pow(1 / gamma)
    m = ReblurFinetune(**TINY, init_from=pretrained, blurfield="random", reblur_weight=5.0, reblur_gamma=gamma)
    m.prepare_training()
    m._frozen["blurfield"] = FixedField(kernels, mixing)
    restored = align_sharp(sharp, blurry)  # G(v) = the sharp image on the blurry grid
    loss = m.extra_generator_losses({"blurry": blurry, "id": ["a", "b"]}, to_gan_range(blurry),
                                    to_gan_range(restored))["reblur"]
    assert loss.item() < 1e-10
    # a one-pixel shift of the restored image, or reflect padding over the whole frame, is not consistent
    valid, reflect = consistency_operator(kernels, mixing, "valid"), consistency_operator(kernels, mixing, "reflect")
    assert reblur_consistency(restored, blurry, valid, gamma).item() < 1e-10
    assert reblur_consistency(restored.roll(1, -1), blurry, valid, gamma).item() > 1e-5
    assert reblur_consistency(restored, blurry, reflect, gamma).item() > 1e-5
    # the wrong space (display instead of linear) is inconsistent too when the data was blurred in linear light
    if gamma != 1.0:
        assert reblur_consistency(restored, blurry, valid, 1.0).item() > 1e-6


def test_gradients_reach_generator_not_blurfield(pretrained):
    m = ReblurFinetune(**TINY, init_from=pretrained, blurfield="random", reblur_weight=1.0)
    m.prepare_training()
    f = m.blurfield
    assert f is not None and not f.training and not any(p.requires_grad for p in f.parameters())
    own = {id(p) for p in m.parameters()}
    assert not any(id(p) in own for p in f.parameters())  # out of optimisers and of DDP's parameters
    assert not any("blurfield" in k for k in m.state_dict())  # and out of checkpoints
    m.train()
    assert not f.training
    blurry = torch.rand(2, 3, 48, 48)
    fake = m.generator(to_gan_range(blurry))
    loss = m.extra_generator_losses({"blurry": blurry, "id": ["a", "b"]}, to_gan_range(blurry), fake)["reblur"]
    loss.backward()
    grads = [p.grad for p in m.generator.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    assert all(p.grad is None for p in f.parameters())


def test_resume_control_loads_no_blurfield(pretrained):
    m = ReblurFinetune(**TINY, init_from=pretrained, blurfield="/nonexistent.safetensors", reblur_weight=0.0)
    m.prepare_training()
    assert m.blurfield is None
    assert m.extra_generator_losses({"blurry": torch.rand(1, 3, 40, 40)}, None, None) == {}
    ref = DeblurGANTraining(**TINY, init_from=pretrained)
    ref.prepare_training()
    fresh = DeblurGANTraining(**TINY)
    assert any(not torch.equal(a, b) for a, b in zip(fresh.generator.state_dict().values(),
                                                     ref.generator.state_dict().values()))
    for a, b in zip(m.generator.state_dict().values(), ref.generator.state_dict().values()):
        torch.testing.assert_close(a, b)  # same starting point as the plain task


def test_config_errors(pretrained, tmp_path):
    with pytest.raises(ConfigError, match="pretrained"):
        ReblurFinetune(**TINY, blurfield="random").prepare_training()
    with pytest.raises(ConfigError, match="not found"):
        ReblurFinetune(**TINY, init_from=pretrained, blurfield=str(tmp_path / "f.safetensors")).prepare_training()
    with pytest.raises(ConfigError, match="not found"):
        ReblurFinetune(**TINY, init_from=str(tmp_path / "g.ckpt"), blurfield="random").prepare_training()
    with pytest.raises(ConfigError):
        ReblurFinetune(**TINY, init_from=pretrained, blurfield="random", reblur_padding="zeros")


def test_field_cache_computes_each_input_once(pretrained, tmp_path):
    n, h = 2, 40
    kernels, mixing = _field(n, 2, h, h)
    m = ReblurFinetune(**TINY, init_from=pretrained, blurfield="random", field_cache=str(tmp_path / "fields"))
    m.prepare_training()
    fixed = FixedField(kernels, mixing)
    m._frozen["blurfield"] = fixed
    v = torch.rand(n, 3, h, h)
    k1, m1 = m.predict_field(v, ["a", "b"])
    k2, m2 = m.predict_field(v, ["a", "b"])
    assert fixed.calls == 1 and m.field_cache.hits == 2 and len(list((tmp_path / "fields").iterdir())) == 2
    torch.testing.assert_close(k2, kernels)
    torch.testing.assert_close(m2, mixing, atol=1e-3, rtol=0)  # stored in float16
    v2 = v.clone()
    v2[1] = 1 - v2[1]  # another crop of sample "b": a new key, recomputed for that item only
    m.predict_field(v2, ["a", "b"])
    assert fixed.calls == 2 and m.field_cache.misses == 3
    for f in (tmp_path / "fields").iterdir():
        f.write_bytes(b"torn")
    m.predict_field(v, ["a", "b"])
    assert fixed.calls == 3  # corrupt entries are recomputed, not trusted


@pytest.mark.slow  # a subprocess with Lightning start-up and data preparation
def test_reblur_fit_fast_dev_run_cli(tmp_path):
    gen = tmp_path / "base.safetensors"
    save_file(DeblurGANTraining(generator_args={"ngf": 16, "n_blocks": 6, "use_dropout": False},
                                    content="l1").generator.state_dict(),
              str(gen))
    res = run_cli("fit", "--config", "deblurgan/small_cpu_reblur", "--trainer.fast_dev_run=true",
                  f"--model.init_args.init_from={gen}", "--model.init_args.blurfield=random",
                  f"--model.init_args.field_cache={tmp_path / 'fields'}",
                  "--data.init_args.bank_size=32", "--data.init_args.crop_size=48",
                  "--data.init_args.eval_crop_size=48", "--data.init_args.batch_size=3",
                  "--data.init_args.num_workers=0", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "max_steps=1` reached" in res.stdout + res.stderr
    assert len(list((tmp_path / "fields").iterdir())) == 3  # batch 3: F ran and its fields were cached


@pytest.mark.slow
def test_ddp_two_processes_train_generator_not_blurfield(pretrained):
    """DDP (gloo, 2 CPU processes), plain ddp_spawn: steps run, F stays out of the wrapped model."""
    import lightning as L
    from torch.utils.data import DataLoader

    data = [{"blurry": torch.rand(3, 40, 40), "sharp": torch.rand(3, 48, 48), "id": f"s{i}"} for i in range(8)]
    m = ReblurFinetune(**TINY, critic_steps=2, init_from=pretrained, blurfield="random", reblur_weight=10.0)
    before = [p.detach().clone() for p in m.generator.parameters()]
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp_spawn", max_steps=2,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(m, DataLoader(data, batch_size=2))
    assert any(not torch.equal(a, b) for a, b in zip(before, m.generator.parameters()))
    assert not any("blurfield" in k for k in m.state_dict())
