"""Each CPU DeblurGAN recipe trains a few steps through the real CLI path; exported weights load and evaluate."""

import json

import pytest
import torch

from blurbench.cli import main
from blurbench.datamodules.builtin import BuiltinImageDataModule
from blurbench.metrics.image import psnr
from blurbench.tasks.deblurgan import DeblurGANTraining, zero_last_conv
from blurbench.tasks.model_methods import NetworkDeblurring

FAST = ["--trainer.max_steps=2", "--trainer.val_check_interval=2", "--trainer.limit_val_batches=2",
        "--data.init_args.bank_size=32", "--data.init_args.crop_size=48", "--data.init_args.num_workers=0"]


def test_zero_init_residual_starts_at_the_identity():
    m = DeblurGANTraining(generator_args={"ngf": 8, "n_blocks": 2, "use_dropout": False}, content="l1",
                          zero_init_residual=True)
    x = torch.rand(2, 3, 20, 24)
    torch.testing.assert_close(m.restore(x), x)
    plain = DeblurGANTraining(generator_args={"ngf": 8, "n_blocks": 2, "use_dropout": False}, content="l1")
    assert (plain.restore(x) - x).abs().mean() > 0.01  # PyTorch's default init is far from it
    zero_last_conv(plain.generator)
    torch.testing.assert_close(plain.restore(x), x)


def test_validation_logs_exact_per_image_means_over_uneven_batches():
    """val/psnr, val/psnr_input and val/gain are means over images (not over batches) of the epoch."""
    m = DeblurGANTraining(generator_args={"ngf": 8, "n_blocks": 2, "use_dropout": False}, content="l1",
                          zero_init_residual=True)
    g = torch.Generator().manual_seed(0)
    sharp = torch.rand(3, 3, 24, 24, generator=g)
    blurry = (sharp + 0.05 * torch.randn(3, 3, 24, 24, generator=g)).clamp(0, 1)
    logged = {}
    m.log = lambda name, value, **kw: logged.__setitem__(name, float(value))
    m.on_validation_epoch_end()  # an epoch without validation batches logs nothing (and does not fail)
    assert logged == {}
    for batch in ({"blurry": blurry[:1], "sharp": sharp[:1]}, {"blurry": blurry[1:], "sharp": sharp[1:]}):
        m.validation_step(batch, 0)
    m.on_validation_epoch_end()
    per_image = psnr(blurry, sharp)  # the identity start: output = input
    assert logged["val/psnr_input"] == pytest.approx(float(per_image.mean()), rel=1e-6)
    assert logged["val/psnr"] == pytest.approx(logged["val/psnr_input"], rel=1e-6)
    assert logged["val/gain"] == pytest.approx(0.0, abs=1e-4)
    m.validation_step({"blurry": blurry[:1], "sharp": sharp[:1]}, 0)  # states were reset: a new epoch
    m.on_validation_epoch_end()
    assert logged["val/psnr_input"] == pytest.approx(float(per_image[0]), rel=1e-6)


def _local_photo_folder(tmp_path, monkeypatch) -> None:
    """Stage 3 and the fine-tunes train on Debian's photographs: here a folder of the scikit-image training images
    stands in for it (the real one is fetched with apt-get; tests/test_debian_photos.py tests that path)."""
    import shutil

    import blurbench.datamodules.debian_photos as dp
    from blurbench.datamodules.skimage_train import prepare_training_images

    folder = tmp_path / "photos"

    def prepare(force: bool = False, deb_dir=None):
        if not folder.is_dir():
            shutil.copytree(prepare_training_images(), folder)
        return folder

    monkeypatch.setattr(dp, "debian_photos_dir", lambda: folder)
    monkeypatch.setattr(dp, "prepare_debian_photos", prepare)


@pytest.mark.slow  # six short Lightning runs (in-process) with data generation
def test_recipes_train_export_and_evaluate(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the recipes write runs/deblurgan/<name>/ relative to the working directory
    _local_photo_folder(tmp_path, monkeypatch)
    assert main(["fit", "--config", "deblurgan/small_cpu", *FAST]) == 0
    ckpt = tmp_path / "runs/deblurgan/small_cpu/checkpoints/last.ckpt"
    assert ckpt.is_file()
    metrics = (tmp_path / "runs/deblurgan/small_cpu/logs/version_0/metrics.csv").read_text()
    assert "val/psnr_input" in metrics and "val/gain" in metrics
    val = BuiltinImageDataModule("motion", split="val")
    val.prepare_data()
    val.setup("test")
    sample = val.test_set[0]
    batch = {"blurry": sample["blurry"][None]}
    base_in = psnr(batch["blurry"], sample["sharp"][None])
    for name, stem in (("small_cpu", "stage1"), ("small_cpu_stage2", "stage2"), ("small_cpu_stage3", "base"),
                       ("small_cpu_resume", "resume"), ("small_cpu_reblur", "reblur"),
                       ("small_cpu_reblur_gt", "reblur_gt")):
        if name != "small_cpu":  # each stage starts from the one before, each fine-tune from stage 3 (its config)
            assert main(["fit", "--config", f"deblurgan/{name}", *FAST]) == 0, capsys.readouterr().err[-2000:]
        out_dir = tmp_path / "w" / stem
        assert main(["zoo", "export", str(tmp_path / f"runs/deblurgan/{name}/checkpoints/last.ckpt"), "--out",
                     str(out_dir), "--name", stem, "--recipe", f"deblurgan/{name}"]) == 0
        cfg = json.loads((out_dir / "config.json").read_text())
        assert cfg["recipe"]["global_step"] == 2 and cfg["ctor_args"]["use_dropout"] is False
        task = NetworkDeblurring(str(out_dir))
        with torch.no_grad():
            out = task.restore(batch)
        assert out.shape == batch["blurry"].shape and torch.isfinite(out).all()
        # two warm-up steps from the identity start: within a fraction of a dB of the input (without the warm-up,
        # Adam's first steps at lr 1e-3 fell ~9 dB below it)
        assert abs(float(psnr(out.clamp(0, 1), sample["sharp"][None]) - base_in)) < 1.0
