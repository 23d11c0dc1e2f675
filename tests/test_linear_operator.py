"""The linear-operator type: the adjoint identity <A x, y> = <x, Aᵀ y> for every implementation (float64)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
import torch

import blurbench.ops
from blurbench.ops import reblur_autotune as autotune
from blurbench.ops.gvd.defocus import DefocusBlur, defocus_blur, defocus_blur_adjoint, defocus_radius
from blurbench.ops.gvd.energy import BlurOperator
from blurbench.ops.gvd.kernels import MotionBlur, SampledMotionBlur, _MotionBlurFrame, render_motion_blur
from blurbench.ops.linear_operator import Composition, LinearOperator
from blurbench.ops.reblur import BlurField

D = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _field(n: int = 2, b: int = 3, k: int = 7, h: int = 19, w: int = 23, seed: int = 0):
    g = _gen(seed)
    return torch.rand(n, b, k, k, generator=g, dtype=D), torch.rand(n, b, h, w, generator=g, dtype=D)


def _flows(t: int, h: int, w: int, seed: int) -> torch.Tensor:
    return 2.5 * torch.randn(t, 2, h, w, generator=_gen(seed), dtype=D)


def _gvd(kind: str) -> tuple[LinearOperator, tuple[int, ...]]:
    t, h, w = 3, 13, 17
    fw, bw = _flows(t, h, w, 1), _flows(t, h, w, 2)
    tau = torch.tensor([0.4, 0.8, 1.0], dtype=D)
    sigma = 1.3 * torch.rand(t, 1, h, w, generator=_gen(3), dtype=D)
    op = {
        "motion-assembled": lambda: MotionBlur(fw, bw, tau, 3),
        "motion-sampled": lambda: SampledMotionBlur(fw, bw, tau, 3),
        "defocus": lambda: DefocusBlur(sigma),
        "gvd-blur": lambda: BlurOperator(fw, bw, tau, 2, sigma),
        "gvd-blur-no-defocus": lambda: BlurOperator(fw, bw, tau, 2),
        "gvd-blur-sampled": lambda: BlurOperator(fw, bw, tau, 2, sigma, assembled=False),
        "motion-frame": lambda: MotionBlur(fw, bw, tau, 3).frame(1),
        "gvd-blur-frame": lambda: BlurOperator(fw, bw, tau, 2, sigma).frame(2),
    }[kind]()
    return op, (1 if kind.endswith("-frame") else t, 2, h, w)


def _blur_field(kind: str) -> tuple[LinearOperator, tuple[int, ...]]:
    k, m = _field()
    if kind == "uniform":
        kernel = torch.rand(2, 5, 5, generator=_gen(4), dtype=D)
        return BlurField.uniform(kernel, (19, 23), "reflect"), (2, 3, 19, 23)
    if kind == "interior":  # maps 19x23 to the (19 - 6)x(23 - 6) centre
        return BlurField(k, m).interior(), (2, 3, 19, 23)
    if kind == "composition":  # a blur of a blur: both 'reflect', same size
        k2, m2 = _field(seed=5)
        return BlurField(k2, m2) @ BlurField(k, m), (2, 3, 19, 23)
    padding = kind
    size = (19 + 6, 23 + 6) if padding == "valid" else (19, 23)
    return BlurField(k, m, padding), (2, 3, *size)


CASES = {
    **{f"blur-field-{p}": (_blur_field, p) for p in ("reflect", "replicate", "zeros", "valid")},
    "blur-field-uniform": (_blur_field, "uniform"),
    "blur-field-interior": (_blur_field, "interior"),
    "composition": (_blur_field, "composition"),
    **{k: (_gvd, k) for k in ("motion-assembled", "motion-sampled", "defocus", "gvd-blur", "gvd-blur-no-defocus",
                              "gvd-blur-sampled", "motion-frame", "gvd-blur-frame")},
}
#: which case covers which implementation (the completeness test below)
COVERS = {BlurField: "blur-field-reflect", Composition: "composition", MotionBlur: "motion-assembled",
          SampledMotionBlur: "motion-sampled", DefocusBlur: "defocus", BlurOperator: "gvd-blur",
          _MotionBlurFrame: "motion-frame"}


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum())


# blur fields on both kinds of reblur path (FFT engine, direct conv2d); the GVD operators have one path each
PARAMS = [(c, "default") for c in sorted(CASES)] + [(c, "direct") for c in sorted(CASES) if CASES[c][0] is _blur_field]


@pytest.mark.parametrize(("case", "path"), PARAMS)
def test_adjoint_identity(case, path):
    build, arg = CASES[case]
    with autotune.force(autotune.DIRECT if path == "direct" else autotune.default_path()):
        op, in_shape = build(arg)
        x = torch.randn(*in_shape, generator=_gen(10), dtype=D)
        ax = op.A(x)
        y = torch.randn(ax.shape, generator=_gen(11), dtype=D)
        aty = op.A_adjoint(y)
        assert aty.shape == x.shape and aty.dtype == D
        lhs, rhs = _dot(ax, y), _dot(x, aty)
        assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), 1.0), (lhs, rhs)
        # the normal operator and the call syntax are the same maps
        torch.testing.assert_close(op.A_adjoint_A(x), op.A_adjoint(op.A(x)), rtol=0, atol=0)
        torch.testing.assert_close(op(x), ax, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["motion-assembled", "defocus", "gvd-blur", "gvd-blur-no-defocus"])
def test_frame_views_are_the_slices_of_the_window_operator(kind):
    """``op.frame(f)`` (the latent solver's frame-by-frame data prox) is frame ``f`` of ``op``, forward and adjoint."""
    op, shape = _gvd(kind)
    x = torch.randn(*shape, generator=_gen(14), dtype=D)
    ax, atx = op.A(x), op.A_adjoint(x)
    for f in range(shape[0]):
        view = op.frame(f)
        torch.testing.assert_close(view.A(x[f:f + 1]), ax[f:f + 1], rtol=0, atol=1e-13)
        torch.testing.assert_close(view.A_adjoint(x[f:f + 1]), atx[f:f + 1], rtol=0, atol=1e-13)
    assert _gvd("motion-sampled")[0].frame(0) is None  # not split: the callers keep the whole-window path


def test_every_implementation_is_covered():
    """A new LinearOperator subclass in blurbench.ops must get a case above (its adjoint identity tested)."""
    for mod in pkgutil.walk_packages(blurbench.ops.__path__, "blurbench.ops."):
        importlib.import_module(mod.name)
    found, todo = set(), [LinearOperator]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("blurbench.ops"):
                found.add(sub)
            todo.append(sub)
    assert found == set(COVERS), f"add a case for {sorted(c.__name__ for c in found - set(COVERS))}"


def test_blur_field_is_reblur_and_uniform_is_one_kernel_everywhere():
    from blurbench.ops.reblur import reblur, reblur_adjoint

    k, m = _field()
    x = torch.rand(2, 3, 19, 23, generator=_gen(12), dtype=D)
    op = BlurField(k, m, "replicate")
    assert torch.equal(op.A(x), reblur(x, k, m, "replicate"))
    assert torch.equal(op.A_adjoint(x), reblur_adjoint(x, k, m, "replicate"))
    assert op.with_padding("zeros").padding == "zeros" and op.kernel_size == 7
    kernel = torch.rand(5, 5, generator=_gen(13), dtype=D)
    uni = BlurField.uniform(kernel, (19, 23))
    ref = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect").flatten(0, 1)[:, None],
                                     kernel[None, None]).view_as(x)
    torch.testing.assert_close(uni.A(x[:1]), ref[:1])
    with pytest.raises(ValueError, match="unknown padding"):
        BlurField(k, m, "circular")


def test_gvd_operator_type_adds_no_rounding():
    """In float32 (the solver's dtype) ``BlurOperator`` is bitwise the function chain it replaced (motion blur after
    defocus; adjoint in reverse order): the operator type changes no GVD number (issue 17, leaderboard gvd row)."""
    t, h, w = 3, 13, 17
    fw, bw = _flows(t, h, w, 1).float(), _flows(t, h, w, 2).float()
    tau = torch.tensor([0.4, 0.8, 1.0])
    sigma = 1.3 * torch.rand(t, 1, h, w, generator=_gen(3))
    x = torch.rand(t, 6, h, w, generator=_gen(14))
    r = defocus_radius(float(sigma.max()))
    k = MotionBlur(fw, bw, tau, 2)
    op = BlurOperator(fw, bw, tau, 2, sigma)
    assert torch.equal(op.A(x), k.A(defocus_blur(x, sigma, r)))
    assert torch.equal(op.A_adjoint(x), defocus_blur_adjoint(k.A_adjoint(x), sigma, r))
    assert torch.equal(op.A_adjoint_A(x), defocus_blur_adjoint(k.A_adjoint(k.A(defocus_blur(x, sigma, r))), sigma, r))
    sampled = BlurOperator(fw, bw, tau, 2, sigma, assembled=False)
    assert torch.equal(sampled.A(x), render_motion_blur(defocus_blur(x, sigma, r), fw, bw, tau, 2))
