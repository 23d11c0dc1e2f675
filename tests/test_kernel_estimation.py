"""Kernel-estimation metrics, baselines, the shipped model and its prediction files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from blurbench.ops.kernel_fit import fit_uniform_kernel, project_simplex
from blurbench.ops.kernels import random_kernels
from blurbench.ops.reblur import reblur
from blurbench.ops.regions import sample_blur_field
from blurbench.tasks.kernel_estimation import KernelEstimationTask, MeanKernel, OracleUniform, field_metrics


def _image(h: int = 72, w: int = 80, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.avg_pool2d(torch.rand(1, 3, h + 4, w + 4, generator=g), 5, 1)[0]


def _sample(field_seed: int = 0, uniform: bool = False) -> dict:
    sharp = _image()
    h, w = sharp.shape[-2:]
    rng = np.random.default_rng(field_seed)
    if uniform:
        kernels = torch.from_numpy(random_kernels(1, 33, rng=rng))[None]
        mixing = torch.ones(1, 1, h, w)
    else:
        f = sample_blur_field(h, w, rng=rng, kernel_size=33, max_segments=2, min_segments=2, min_segment_area=200)
        kernels, mixing = torch.from_numpy(f.kernels)[None], torch.from_numpy(f.mixing)[None]
    blurry = reblur(sharp[None], kernels, mixing, "reflect").clamp(0, 1)
    blurry = torch.round(blurry * 255) / 255  # stored as 8 bits, like the built-in suite
    return {"id": ["x.png"], "sharp": sharp[None], "blurry": blurry, "kernels": kernels, "mixing": mixing}


class _Given(KernelEstimationTask):
    def __init__(self, kernels, mixing):
        super().__init__()
        self.k, self.m = kernels, mixing

    def estimate(self, batch):
        return self.k, self.m


def test_ground_truth_field_scores_perfectly():
    s = _sample()
    rows = _Given(s["kernels"], s["mixing"]).evaluate_batch(s)
    assert rows[0]["kernel_error"] < 1e-7
    assert rows[0]["reblur_psnr"] > 60  # only the 8-bit rounding separates them


def test_kernel_error_is_the_mean_per_pixel_l2_distance():
    s = _sample(1)
    k = torch.from_numpy(random_kernels(2, 33, rng=np.random.default_rng(9)))[None]
    m = torch.softmax(torch.randn(1, 2, *s["mixing"].shape[-2:], generator=torch.Generator().manual_seed(2)), 1)
    got = field_metrics(s["sharp"], s["blurry"], k, m, s["kernels"], s["mixing"])[0]
    p1 = torch.einsum("nbhw,nbij->nhwij", m.double(), k.double())
    p2 = torch.einsum("nbhw,nbij->nhwij", s["mixing"].double(), s["kernels"].double())
    ref = (p1 - p2).pow(2).sum((-2, -1)).sqrt().mean()
    assert got["kernel_error"] == pytest.approx(float(ref), rel=1e-9)
    # smaller estimated kernels are zero-padded, centred: a 17-px delta equals the 33-px delta
    delta17 = torch.zeros(1, 1, 17, 17)
    delta17[..., 8, 8] = 1
    delta33 = torch.zeros(1, 1, 33, 33)
    delta33[..., 16, 16] = 1
    ones = torch.ones(1, 1, *s["mixing"].shape[-2:])
    a = field_metrics(s["sharp"], s["blurry"], delta17, ones, s["kernels"], s["mixing"])[0]
    b = field_metrics(s["sharp"], s["blurry"], delta33, ones, s["kernels"], s["mixing"])[0]
    assert a == pytest.approx(b)


def test_simplex_projection():
    x = torch.randn(20, 50, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    p = project_simplex(x)
    assert torch.allclose(p.sum(1), torch.ones(20, dtype=torch.float64)) and (p >= 0).all()
    # optimality: projecting a point of the simplex returns it
    assert torch.allclose(project_simplex(p), p)


def test_oracle_uniform_recovers_a_uniform_kernel():
    s = _sample(3, uniform=True)
    k = fit_uniform_kernel(s["sharp"][0], s["blurry"][0], 33)
    assert k.min() >= 0 and float(k.sum()) == pytest.approx(1.0, abs=1e-5)
    row = _Given(k[None, None], torch.ones_like(s["mixing"])).evaluate_batch(s)[0]
    assert row["kernel_error"] < 0.1 * float(s["kernels"].norm())
    assert row["reblur_psnr"] > 40


def test_mean_kernel_and_oracle_on_a_non_uniform_field():
    s = _sample(4)
    mean_row = MeanKernel(bank_size=256, bank_seed=5).evaluate_batch(s)[0]
    oracle_row = OracleUniform().evaluate_batch(s)[0]
    assert oracle_row["reblur_psnr"] > mean_row["reblur_psnr"]
    assert mean_row["kernel_error"] > 0.01


_SHIPPED = Path(__file__).resolve().parents[1] / "blurbench" / "zoo" / "weights" / "blurfield-small" / \
    "model.safetensors"


def test_shipped_blurfield_small_predicts_files(tmp_path):
    from safetensors.torch import load_file

    from blurbench.io import write_image
    from blurbench.prediction import predict
    from blurbench.tasks.registry import get_method

    assert _SHIPPED.is_file(), "the package ships blurfield-small (configs/blurfield/small_cpu.yaml)"
    spec = get_method("blurfield-small")  # registered because its weights are shipped
    assert spec.task == "kernel-estimation"
    inp = tmp_path / "in"
    write_image(inp / "a.png", _sample()["blurry"][0])
    out = predict("blurfield-small", inp, tmp_path / "out", accelerator="cpu", progress=False)
    for suffix in ("_kernels.png", "_mixing.png", "_basis.png"):
        assert (out / f"a{suffix}").is_file()
    field = load_file(str(out / "a_field.safetensors"))
    assert field["kernels"].shape == (25, 33, 33) and field["mixing"].shape == (25, 72, 80)
    assert torch.allclose(field["mixing"].sum(0), torch.ones(72, 80), atol=1e-4)
    assert torch.allclose(field["kernels"].flatten(1).sum(1), torch.ones(25), atol=1e-4)
