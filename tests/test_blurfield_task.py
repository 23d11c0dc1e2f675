"""Blur-field training: loss definitions, the Gram identity, optimisation, the LightningCLI recipe, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from blurbench.ops.field_loss import field_sq_distance, weighted_l1_kernel_distance, weighted_l2_kernel_distance
from blurbench.ops.reblur import BlurField, reblur
from blurbench.ops.regions import sample_blur_field
from blurbench.tasks.blurfield import BlurFieldEstimation, blurfield_losses, kernel_error
from blurbench.zoo.carbajal import BlurFieldNet

from .conftest import run_cli


def _brute(k1, m1, k2, m2):
    """Per-pixel kernels materialised: [N, H, W, K, K] each."""
    return torch.einsum("nbhw,nbij->nhwij", m1, k1), torch.einsum("nbhw,nbij->nhwij", m2, k2)


def _field_batch(n: int = 2, out: int = 40, k: int = 33, gamma: float = 1.0, seed: int = 0) -> dict:
    """A batch in the SyntheticBlurDataModule 'valid' layout, blurred exactly (no clamping needed)."""
    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    sharp = torch.nn.functional.avg_pool2d(torch.rand(n, 3, out + k - 1 + 4, out + k - 1 + 4, generator=g), 5, 1)
    fields = [sample_blur_field(out, out, rng=rng, kernel_size=k, max_segments=2, num_kernels=3,
                                min_segment_area=100, kernel_params=None) for _ in range(n)]
    kernels = torch.stack([torch.from_numpy(f.kernels) for f in fields])
    mixing = torch.stack([torch.from_numpy(f.mixing) for f in fields])
    weights = torch.stack([torch.from_numpy(f.weights) for f in fields])
    blurry = reblur(sharp.pow(gamma), kernels, mixing, "valid").clamp_min(0).pow(1 / gamma)
    return {"sharp": sharp, "blurry": blurry, "kernels": kernels, "mixing": mixing, "weights": weights}


def test_gram_identity_equals_materialised_kernels():
    g = torch.Generator().manual_seed(1)
    k1, m1 = torch.rand(2, 5, 7, 7, generator=g, dtype=torch.float64), torch.rand(2, 5, 6, 9, generator=g,
                                                                                   dtype=torch.float64)
    k2, m2 = torch.rand(2, 3, 7, 7, generator=g, dtype=torch.float64), torch.rand(2, 3, 6, 9, generator=g,
                                                                                   dtype=torch.float64)
    w = torch.rand(2, 6, 9, generator=g, dtype=torch.float64)
    w[0, :2] = 0  # skipped pixels must not change the L1 sum
    p1, p2 = _brute(k1, m1, k2, m2)
    f2 = BlurField(k2, m2)
    torch.testing.assert_close(field_sq_distance(BlurField(k1, m1), f2), ((p1 - p2) ** 2).sum((-2, -1)))
    torch.testing.assert_close(weighted_l2_kernel_distance(BlurField(k1, m1), f2, w),
                               (((p1 - p2) ** 2).sum((-2, -1)) * w).flatten(1).sum(1))
    k1.requires_grad_(True)
    m1.requires_grad_(True)
    ref = ((p1 - p2).abs().sum((-2, -1)) * w).flatten(1).sum(1)
    ref = (((torch.einsum("nbhw,nbij->nhwij", m1, k1) - p2).abs().sum((-2, -1))) * w).flatten(1).sum(1)
    got = weighted_l1_kernel_distance(BlurField(k1, m1), f2, w, chunk=7)  # several chunks, a ragged last one
    torch.testing.assert_close(got, ref)
    g_ref = torch.autograd.grad(ref.sum(), (k1, m1))
    g_got = torch.autograd.grad(got.sum(), (k1, m1))
    for a, b in zip(g_got, g_ref):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("gamma", [1.0, 2.2])
def test_losses_vanish_for_the_ground_truth_field(gamma):
    b = _field_batch(gamma=gamma)
    for norm in ("l2", "l1"):
        rb, kl, reblurred = blurfield_losses(b["sharp"], b["blurry"], b["kernels"], b["mixing"], b["kernels"],
                                             b["mixing"], b["weights"], norm=norm, gamma=gamma)
        assert float(rb) < 1e-9 and float(kl) < 1e-9
        assert reblurred.shape == b["blurry"].shape
    assert float(kernel_error(b["kernels"], b["mixing"], b["kernels"], b["mixing"]).max()) < 1e-6
    # a wrong field is penalised by both terms, and the gamma used for the loss must match the data's
    wrong = torch.roll(b["kernels"], 5, dims=-1)
    rb, kl, _ = blurfield_losses(b["sharp"], b["blurry"], wrong, b["mixing"], b["kernels"], b["mixing"],
                                 b["weights"], gamma=gamma)
    assert float(rb) > 1e-5 and float(kl) > 1e-4


def test_loss_normalisation_matches_the_authors_definition():
    """Weighted sums over channels/taps and pixels, divided by the batch size (their training script)."""
    b = _field_batch(n=2)
    g = torch.Generator().manual_seed(3)
    pk = torch.softmax(torch.randn(2, 4, 33 * 33, generator=g), -1).view(2, 4, 33, 33)
    pm = torch.softmax(torch.randn(2, 4, 40, 40, generator=g), 1)
    rb, kl, _ = blurfield_losses(b["sharp"], b["blurry"], pk, pm, b["kernels"], b["mixing"], b["weights"])
    p1, p2 = _brute(pk.double(), pm.double(), b["kernels"].double(), b["mixing"].double())
    kl_ref = (((p1 - p2) ** 2).sum((-2, -1)) * b["weights"]).sum() / 2
    rb_ref = ((reblur(b["sharp"], pk, pm, "valid") - b["blurry"]) ** 2 * b["weights"][:, None]).sum() / 2
    torch.testing.assert_close(kl.double(), kl_ref, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(rb, rb_ref, rtol=1e-4, atol=1e-8)
    # the unbiased L1 pixel subsample keeps its expectation: with more pixels than the ROI it is exact
    full = blurfield_losses(b["sharp"], b["blurry"], pk, pm, b["kernels"], b["mixing"], b["weights"], norm="l1")[1]
    sub = blurfield_losses(b["sharp"], b["blurry"], pk, pm, b["kernels"], b["mixing"], b["weights"], norm="l1",
                           l1_pixels=10_000)[1]
    torch.testing.assert_close(full, sub)


class _FreeField(torch.nn.Module):
    """A 'network' whose output field is free parameters (softmax-normalised): a tiny, fast problem."""

    def __init__(self, b: int = 3, k: int = 33, size: int = 32) -> None:
        super().__init__()
        self.kernel_logits = torch.nn.Parameter(torch.zeros(b, k * k))
        self.mixing_logits = torch.nn.Parameter(torch.zeros(b, size, size))
        self.k = k

    def forward(self, x):
        n = x.shape[0]
        k = torch.softmax(self.kernel_logits, -1).view(1, -1, self.k, self.k).expand(n, -1, -1, -1)
        return k, torch.softmax(self.mixing_logits, 0)[None].expand(n, -1, -1, -1)


def test_a_few_training_steps_reduce_the_loss(tmp_path):
    import lightning as L

    torch.manual_seed(0)
    b = _field_batch(n=1, out=32)
    task = BlurFieldEstimation(_FreeField(), lr=0.3)

    def loss():
        with torch.no_grad():
            k, m = task.network(b["blurry"])
            rb, kl, _ = blurfield_losses(b["sharp"], b["blurry"], k, m, b["kernels"], b["mixing"], b["weights"])
        return float(rb + kl)

    first = loss()
    trainer = L.Trainer(max_steps=30, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path)
    item = {k: v[0] for k, v in b.items()}
    # training_step + the default Adam/StepLR of configure_optimizers
    trainer.fit(task, torch.utils.data.DataLoader([item] * 30, batch_size=1))
    assert loss() < 0.5 * first


@pytest.mark.parametrize("recipe", ["blurfield/small_cpu", "blurfield/small_cpu_sharp"])
def test_cli_recipe_fast_dev_run(tmp_path, recipe):
    res = run_cli("fit", "--config", recipe, "--trainer.fast_dev_run=true",
                  "--data.init_args.bank_size=64", "--data.init_args.num_workers=0",
                  "--data.init_args.crop_size=64", "--data.init_args.eval_crop_size=64",
                  f"--trainer.default_root_dir={tmp_path}", cwd=tmp_path, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    # training images were written from scikit-image, none of them a benchmark (test or val) photo
    from blurbench.datamodules.builtin import PHOTOS, VAL_PHOTOS
    from blurbench.datamodules.skimage_train import training_images_dir

    names = {p.stem for p in training_images_dir().glob("*.png")}
    assert len(names) >= 13 and not names & (set(PHOTOS) | set(VAL_PHOTOS) | {"cat"})


def test_checkpoint_is_a_model_source_and_exports(tmp_path):
    import lightning as L

    from blurbench.zoo import convert, load

    net = BlurFieldNet(kernel_size=33, num_basis=2, base_width=2, gamma=1.0)
    task = BlurFieldEstimation(net)
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path)
    b = _field_batch(n=1, out=32)
    trainer.fit(task, torch.utils.data.DataLoader([{k: v[0] for k, v in b.items()}], batch_size=1))
    ckpt = tmp_path / "t.ckpt"
    trainer.save_checkpoint(ckpt)
    direct = load(str(ckpt))  # the .ckpt itself: arch and arguments recorded by the task
    assert direct.zoo_config["task"] == "kernel-estimation" and direct.zoo_config["ctor_args"]["base_width"] == 2
    out = convert(None, ckpt, tmp_path / "w", recipe={"config": "configs/blurfield/small_cpu.yaml"})
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["arch"] == "BlurFieldNet" and cfg["ctor_args"]["base_width"] == 2 and cfg["ctor_args"]["gamma"] == 1.0
    assert cfg["recipe"]["config"] == "configs/blurfield/small_cpu.yaml" and cfg["recipe"]["global_step"] == 1
    exported = load(str(out))
    for model in (direct, exported):
        for key, value in net.state_dict().items():
            torch.testing.assert_close(model.state_dict()[key], value)


def test_validation_logs_the_mean_kernel_baseline(tmp_path):
    """val/kernel_error_mean_kernel is the error of the bank's mean kernel everywhere, beside the model's."""
    from types import SimpleNamespace

    from blurbench.ops.kernels import KernelBank

    bank = KernelBank.generate(16, 33, 0, ("camera_shake",))
    b = _field_batch(n=2, out=32)
    task = BlurFieldEstimation(_FreeField(), lr=0.3)
    task._trainer = SimpleNamespace(datamodule=SimpleNamespace(_bank=bank))
    logged = {}
    task.log = lambda name, value, **kw: logged.__setitem__(name, float(value.detach()))
    task._log_pictures = lambda *a: None
    task.validation_step(b, 0)
    task.on_validation_epoch_end()  # the torchmetrics states are reduced and logged once per epoch
    mean_k = torch.from_numpy(bank.mean_kernel())[None, None].expand(2, 1, -1, -1).double()
    expect = kernel_error(mean_k, torch.ones(2, 1, 32, 32, dtype=torch.float64), b["kernels"], b["mixing"]).mean()
    assert logged["val/kernel_error_mean_kernel"] == pytest.approx(float(expect), rel=1e-5)
    assert logged["val/kernel_error_ratio"] == pytest.approx(logged["val/kernel_error"] / float(expect), rel=1e-5)
