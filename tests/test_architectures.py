"""Architecture tests for the zoo: shapes, ranges, official key layouts, converters, cross-checks.

The official key lists below are written from the official module trees (Carbajal
``models/TwoHeadsNetwork.py``, KAIR ``models/network_unet.py`` + ``basicblock.py``, DeblurGAN
``models/networks.py`` @ a6f4ad0, DeblurGANv2 ``models/fpn_mobilenet.py`` / ``mobilenet_v2.py`` /
``fpn_inception.py`` + Cadene's ``inceptionresnetv2.py``), independently of the code under test. deepinv
(optional, dev only) is used as an outside reference.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from blurbench.zoo.carbajal import (
    CARBAJAL2021_NUM_PARAMS,
    CARBAJAL2021_NUM_TENSORS,
    BlurFieldNet,
    blurfield_carbajal2021,
    blurfield_small,
)
from blurbench.zoo.converters import (
    convert_deblurgan_v1,
    convert_deblurganv2,
    deblurganv2_key,
    drop_instancenorm_running_stats,
    strip_prefix,
    unwrap_state_dict,
)
from blurbench.zoo.deblurgan import DeblurGANGenerator, PatchGANCritic, deblurgan_critic, deblurgan_v1
from blurbench.zoo.deblurganv2 import FPNGenerator, deblurganv2_fpn_inception, deblurganv2_fpn_mobilenet
from blurbench.zoo.drunet import DRUNet, drunet_color

try:  # optional outside reference (dev venv only, never a project dependency)
    import deepinv
except ImportError:  # pragma: no cover
    deepinv = None

needs_deepinv = pytest.mark.skipif(deepinv is None, reason="deepinv not installed")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _nparams(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _random_like(shapes: dict[str, tuple[int, ...]], seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) * 0.02 for k, s in shapes.items()}


def _assert_loads_exactly(model: nn.Module, sd: dict[str, torch.Tensor]) -> None:
    model.load_state_dict(sd, strict=True)
    own = model.state_dict()
    for k, v in sd.items():
        assert torch.equal(own[k], v), k


# =============================================================================================== Carbajal
def _carbajal_official_shapes(K: int = 25, w: int = 64) -> dict[str, tuple[int, ...]]:
    """Key → shape of the official TwoHeadsNetwork (HEAD), blur_kernel_size 33."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name: str, cin: int, cout: int, k: int = 3) -> None:
        shapes[f"{name}.weight"] = (cout, cin, k, k)
        shapes[f"{name}.bias"] = (cout,)

    def up(name: str, cin: int, cfeat: int, cout: int) -> None:
        shapes[f"{name}.up.weight"] = (cin, cin, 2, 2)  # ConvTranspose2d(in, in, 2, 2)
        shapes[f"{name}.up.bias"] = (cin,)
        conv(f"{name}.double_conv.0", cin, cout)
        conv(f"{name}.double_conv.2", cout, cout)
        conv(f"{name}.feat.0", cfeat + cout, cout)

    conv("inc_rgb.0", 3, w)
    conv("inc_gray.0", 1, w)
    for i, (cin, cout) in enumerate([(w, w), (w, 2 * w), (2 * w, 4 * w), (4 * w, 8 * w), (8 * w, 16 * w)], 1):
        conv(f"down{i}.double_conv.0", cin, cout)
        conv(f"down{i}.double_conv.2", cout, cout)
    conv("feat.0", 16 * w, 16 * w)
    for i, (a, b, c) in enumerate([(16, 16, 8), (8, 8, 4), (4, 4, 2), (2, 2, 1), (1, 1, 1)], 1):
        up(f"up{i}", a * w, b * w, c * w)
    conv("masks_end.0", w, w)
    conv("masks_end.2", w, w)
    conv("masks_end.4", w, K)
    for i, (a, b, c) in enumerate([(16, 16, 8), (8, 8, 4), (4, 4, 4), (4, 2, 2), (2, 1, 1)], 1):
        up(f"kernel_up{i}", a * w, b * w, c * w)
    conv("kernels_end.0", w, w, k=2)
    conv("kernels_end.2", w, w)
    conv("kernels_end.4", w, K)
    return shapes


@pytest.fixture(scope="module")
def carbajal() -> BlurFieldNet:
    return blurfield_carbajal2021().eval()


def test_carbajal_official_layout_and_count(carbajal):
    shapes = _carbajal_official_shapes()
    assert len(shapes) == CARBAJAL2021_NUM_TENSORS == 118
    own = carbajal.state_dict()
    assert list(own) == list(shapes)  # same order as the official module tree
    assert {k: tuple(v.shape) for k, v in own.items()} == shapes
    assert _nparams(carbajal) == CARBAJAL2021_NUM_PARAMS == 79_829_298
    _assert_loads_exactly(carbajal, _random_like(shapes))  # later tests do not depend on the weights


def test_carbajal_forward_odd_size(carbajal):
    x = torch.rand(1, 3, 37, 45)
    with torch.no_grad():
        kernels, mixing = carbajal(x)
    assert kernels.shape == (1, 25, 33, 33)
    assert mixing.shape == (1, 25, 37, 45)
    assert (kernels >= 0).all() and (mixing >= 0).all()
    torch.testing.assert_close(kernels.sum((2, 3)), torch.ones(1, 25))
    torch.testing.assert_close(mixing.sum(1), torch.ones(1, 37, 45))


def test_carbajal_preprocess_convention():
    net = blurfield_small().eval()
    x = torch.rand(1, 3, 32, 40)
    assert net.gamma == 2.2
    torch.testing.assert_close(net.preprocess(x), x**2.2 - 0.5)
    with torch.no_grad():
        k1, m1 = net(x)
        k2, m2 = net.forward_preprocessed(x**2.2 - 0.5)
    torch.testing.assert_close(k1, k2)
    torch.testing.assert_close(m1, m2)
    assert blurfield_carbajal2021(gamma=1.0).gamma == 1.0  # Köhler


def test_carbajal_rejects_small_inputs_and_bad_k():
    net = blurfield_small()
    with pytest.raises(ValueError, match="32"):
        net(torch.rand(1, 3, 31, 64))
    with pytest.raises(ValueError, match="kernel_size"):
        BlurFieldNet(kernel_size=31)


@needs_deepinv
def test_carbajal_matches_deepinv(carbajal):
    ref = deepinv.models.KernelIdentificationNetwork(filters=25, blur_kernel_size=33, pretrained=None).eval()
    ref_sd, own = ref.state_dict(), carbajal.state_dict()
    assert list(ref_sd) == list(own)
    assert all(ref_sd[k].shape == own[k].shape for k in own)
    ref.load_state_dict(own, strict=True)
    ours = blurfield_carbajal2021(gamma=1.0).eval()  # deepinv feeds x - 0.5 (no gamma)
    ours.load_state_dict(own)
    x = torch.rand(1, 3, 67, 53)
    with torch.no_grad():
        kernels, mixing = ours(x)
        out = ref(x)
    # deepinv returns convolution kernels (flipped); ours are correlation kernels, as the official code
    torch.testing.assert_close(kernels, out["filters"][:, 0].flip(-1, -2), rtol=0, atol=1e-7)
    torch.testing.assert_close(mixing, out["multipliers"][:, 0], rtol=0, atol=1e-7)


def test_carbajal_small_trains_on_cpu():
    net = blurfield_small()
    n = _nparams(net)
    assert 1_000_000 <= n <= 3_000_000, n
    x = torch.rand(2, 3, 64, 64)
    kernels, mixing = net(x)
    assert kernels.shape == (2, 25, 33, 33) and mixing.shape == (2, 25, 64, 64)
    loss = (kernels**2).sum() + (mixing[:, :, ::2, ::2] ** 2).mean()
    loss.backward()
    grads = {k: p.grad for k, p in net.named_parameters() if not k.startswith("inc_gray.")}  # RGB input
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert net.inc_rgb[0].weight.grad.abs().sum() > 0
    assert net.kernels_end[0].weight.grad.abs().sum() > 0 and net.masks_end[4].weight.grad.abs().sum() > 0


def test_carbajal_init_keeps_the_kernel_head_image_dependent():
    """At initialisation two different images must give visibly different kernel-head logits: with PyTorch's
    default init they differ by ~1e-5 of the logits' spread and training collapses to one mean kernel."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 96, 96)
    spreads = {}
    for init in ("kaiming", "torch"):
        net = BlurFieldNet(33, 25, 10, 1.0, init=init)
        logits: dict[str, torch.Tensor] = {}
        net.kernels_end.register_forward_hook(lambda m, i, o, store=logits: store.__setitem__("k", o))
        with torch.no_grad():
            net(x)
        k = logits["k"]
        spreads[init] = ((k[0] - k[1]).std() / k.std()).item()
    assert spreads["kaiming"] > 1e-3 > spreads["torch"], spreads
    with pytest.raises(ValueError, match="init"):
        BlurFieldNet(33, 25, 10, init="xavier")


def test_carbajal_k65_adds_kernel_up6():
    net = BlurFieldNet(kernel_size=65, base_width=4)
    assert "kernel_up6.up.weight" in net.state_dict()
    assert net.state_dict()["kernel_up6.feat.0.weight"].shape == (4, 4, 3, 3)  # no skip
    with torch.no_grad():
        kernels, mixing = net(torch.rand(1, 3, 33, 35))
    assert kernels.shape == (1, 25, 65, 65) and mixing.shape == (1, 25, 33, 35)


# ================================================================================================ DRUNet
def _drunet_official_shapes(nc=(64, 128, 256, 512), nb=4, in_nc=4, out_nc=3) -> dict[str, tuple[int, ...]]:
    shapes = {"m_head.weight": (nc[0], in_nc, 3, 3)}
    for lvl in (1, 2, 3):
        c, c_next = nc[lvl - 1], nc[lvl]
        for j in range(nb):
            shapes[f"m_down{lvl}.{j}.res.0.weight"] = (c, c, 3, 3)
            shapes[f"m_down{lvl}.{j}.res.2.weight"] = (c, c, 3, 3)
        shapes[f"m_down{lvl}.{nb}.weight"] = (c_next, c, 2, 2)  # strided conv
    for j in range(nb):
        shapes[f"m_body.{j}.res.0.weight"] = (nc[3], nc[3], 3, 3)
        shapes[f"m_body.{j}.res.2.weight"] = (nc[3], nc[3], 3, 3)
    for lvl in (3, 2, 1):
        c_in, c = nc[lvl], nc[lvl - 1]
        shapes[f"m_up{lvl}.0.weight"] = (c_in, c, 2, 2)  # ConvTranspose2d weight is (in, out, k, k)
        for j in range(1, nb + 1):
            shapes[f"m_up{lvl}.{j}.res.0.weight"] = (c, c, 3, 3)
            shapes[f"m_up{lvl}.{j}.res.2.weight"] = (c, c, 3, 3)
    shapes["m_tail.weight"] = (out_nc, nc[0], 3, 3)
    return shapes


@pytest.fixture(scope="module")
def drunet() -> DRUNet:
    return drunet_color().eval()


def test_drunet_official_layout(drunet):
    shapes = _drunet_official_shapes()
    assert {k: tuple(v.shape) for k, v in drunet.state_dict().items()} == shapes
    assert _nparams(drunet) == 32_640_960
    _assert_loads_exactly(drunet, _random_like(shapes))  # later tests do not depend on the weights


def test_drunet_forward_odd_size(drunet):
    x = torch.rand(1, 3, 37, 45)
    with torch.no_grad():
        y = drunet(x, 0.05)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_drunet_sigma_forms_and_padding():
    net = DRUNet(nc=(8, 16, 32, 64), nb=1).eval()  # same code path, small widths
    x = torch.rand(2, 3, 37, 45)
    with torch.no_grad():
        y_float = net(x, 0.05)
        y_vec = net(x, torch.tensor([0.05, 0.05]))
        y_map = net(x, torch.full((2, 1, 37, 45), 0.05))
        y_other = net(x, torch.tensor([0.05, 0.2]))
        # padding is replicate bottom/right to a multiple of 16, then cropped
        z = torch.cat([x, torch.full((2, 1, 37, 45), 0.05)], 1)
        z = nn.functional.pad(z, (0, 3, 0, 11), mode="replicate")
        y_manual = net.forward_unet(z)[..., :37, :45]
    assert y_float.shape == x.shape
    torch.testing.assert_close(y_float, y_vec)
    torch.testing.assert_close(y_float, y_map)
    torch.testing.assert_close(y_float, y_manual)
    torch.testing.assert_close(y_other[0], y_float[0])
    assert not torch.allclose(y_other[1], y_float[1])
    with pytest.raises(ValueError):
        net(x, torch.tensor([0.1, 0.2, 0.3]))


@needs_deepinv
def test_drunet_matches_deepinv(drunet, monkeypatch):
    import deepinv.models.drunet as dinv_drunet

    monkeypatch.setattr(dinv_drunet, "weights_init_drunet", lambda m: None)  # skip its slow init
    ref = dinv_drunet.DRUNet(in_channels=3, out_channels=3, pretrained=None).eval()
    own = drunet.state_dict()
    assert list(ref.state_dict()) == list(own)
    assert all(ref.state_dict()[k].shape == v.shape for k, v in own.items())
    ref.load_state_dict(own, strict=True)
    x = torch.rand(2, 3, 37, 45)  # < 64 px and not a multiple of 8: deepinv pads to 16 (replicate) like us
    sigma = torch.tensor([0.02, 0.1])
    with torch.no_grad():
        torch.testing.assert_close(drunet(x, sigma), ref(x, sigma), rtol=0, atol=1e-6)


# ========================================================================================= DeblurGAN v1
def _deblurgan_v1_official_shapes(legacy_in_stats: bool = False) -> dict[str, tuple[int, ...]]:
    """networks.py @ a6f4ad0, resnet_9blocks, ngf 64, norm 'instance' (convs with bias), dropout on."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name: str, cout: int, cin: int, k: int, transposed: bool = False) -> None:
        shapes[f"{name}.weight"] = (cin, cout, k, k) if transposed else (cout, cin, k, k)
        shapes[f"{name}.bias"] = (cout,)

    def norm(name: str, c: int) -> None:
        if legacy_in_stats:  # PyTorch <= 0.3 InstanceNorm buffers
            shapes[f"{name}.running_mean"] = (c,)
            shapes[f"{name}.running_var"] = (c,)

    conv("model.1", 64, 3, 7), norm("model.2", 64)
    conv("model.4", 128, 64, 3), norm("model.5", 128)
    conv("model.7", 256, 128, 3), norm("model.8", 256)
    for i in range(10, 19):  # [pad, conv, IN, ReLU, Dropout, pad, conv, IN]
        conv(f"model.{i}.conv_block.1", 256, 256, 3), norm(f"model.{i}.conv_block.2", 256)
        conv(f"model.{i}.conv_block.6", 256, 256, 3), norm(f"model.{i}.conv_block.7", 256)
    conv("model.19", 128, 256, 3, transposed=True), norm("model.20", 128)
    conv("model.22", 64, 128, 3, transposed=True), norm("model.23", 64)
    conv("model.26", 3, 64, 7)
    return shapes


def test_deblurgan_v1_official_layout_and_legacy_stats():
    gen = deblurgan_v1()
    shapes = _deblurgan_v1_official_shapes()
    assert {k: tuple(v.shape) for k, v in gen.state_dict().items()} == shapes
    assert _nparams(gen) == 11_378_179
    legacy = _random_like(_deblurgan_v1_official_shapes(legacy_in_stats=True))
    assert any(k.endswith("running_mean") for k in legacy)
    with pytest.raises(RuntimeError):
        deblurgan_v1().load_state_dict(legacy, strict=True)
    wrapped = {"module." + k: v for k, v in legacy.items()}
    converted = convert_deblurgan_v1(wrapped)
    assert set(converted) == set(shapes)
    _assert_loads_exactly(deblurgan_v1(), converted)


def test_deblurgan_v1_forward_odd_size_range_and_residual():
    gen = deblurgan_v1().eval()
    x = torch.rand(1, 3, 67, 53) * 2 - 1
    with torch.no_grad():
        y = gen(x)
        assert y.shape == x.shape
        assert y.min() >= -1 and y.max() <= 1
        assert torch.equal(gen(x), y)  # eval: dropout off, deterministic
        nn.init.zeros_(gen.model[26].weight)
        nn.init.zeros_(gen.model[26].bias)
        torch.testing.assert_close(gen(x), x)  # learn_residual: clamp(x + tanh(0)) = x, pad/crop exact
    with pytest.raises(RuntimeError):  # the bare net needs multiples of 4 for the residual
        gen.forward_net(x)


def test_deblurgan_v1_dropout_quirk():
    gen = deblurgan_v1(dropout_at_eval=True).eval()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert not torch.equal(gen(x), gen(x))  # official test.py never calls eval(): dropout stays on
    plain = DeblurGANGenerator(use_dropout=False)
    assert "model.10.conv_block.5.weight" in plain.state_dict()  # official indices without dropout


def test_deblurgan_critic_layout_and_forward():
    critic = deblurgan_critic()
    expected = {
        "model.0.weight": (64, 3, 4, 4), "model.0.bias": (64,),
        "model.2.weight": (128, 64, 4, 4), "model.2.bias": (128,),
        "model.5.weight": (256, 128, 4, 4), "model.5.bias": (256,),
        "model.8.weight": (512, 256, 4, 4), "model.8.bias": (512,),
        "model.11.weight": (1, 512, 4, 4), "model.11.bias": (1,),
    }  # fmt: skip
    assert {k: tuple(v.shape) for k, v in critic.state_dict().items()} == expected
    assert isinstance(critic.model[3], nn.InstanceNorm2d) and not critic.model[3].affine
    _assert_loads_exactly(deblurgan_critic(), _random_like(expected))
    assert critic(torch.rand(2, 3, 256, 256) * 2 - 1).shape == (2, 1, 35, 35)
    assert "model.3.weight" in PatchGANCritic(norm="batch").state_dict()


# ========================================================================================= DeblurGAN v2
# official ``MobileNetV2.features`` (models/mobilenet_v2.py): 0 = conv_bn (0 conv, 1 bn); 1 = inverted
# residual with expand_ratio 1 (conv: 0 dw, 1 bn, 3 pw, 4 bn); 2..17 = inverted residuals (conv: 0 pw, 1 bn,
# 3 dw, 4 bn, 6 pwl, 7 bn); 18 = conv_1x1_bn. Stages (t, c, n, s): 16x1, 24x2, 32x3, 64x4, 96x3, 160x3, 320x1.
_MBV2_DEPTHS = (1, 2, 3, 4, 3, 3, 1)
_MBV2_FIRST_BLOCK = {"conv_dw": "conv.0", "bn1": "conv.1", "conv_pw": "conv.3", "bn2": "conv.4"}
_MBV2_BLOCK = {
    "conv_pw": "conv.0", "bn1": "conv.1", "conv_dw": "conv.3", "bn2": "conv.4",
    "conv_pwl": "conv.6", "bn3": "conv.7",
}  # fmt: skip
# official FPN: enc0 = features[0:2], enc1 = [2:4], enc2 = [4:7], enc3 = [7:11], enc4 = [11:16]
_MBV2_ENC = {0: range(0, 2), 1: range(2, 4), 2: range(4, 7), 3: range(7, 11), 4: range(11, 16)}


def _timm_mbv2_to_official(name: str) -> str:
    """timm ``mobilenetv2_100`` key → official ``features.*`` key (written from mobilenet_v2.py)."""
    module, tail = name.split(".", 1)
    if module in ("conv_stem", "bn1"):
        return f"features.0.{0 if module == 'conv_stem' else 1}.{tail}"
    if module in ("conv_head", "bn2"):
        return f"features.18.{0 if module == 'conv_head' else 1}.{tail}"
    assert module == "blocks"
    stage, block, layer, rest = tail.split(".", 3)
    index = 1 + sum(_MBV2_DEPTHS[: int(stage)]) + int(block)
    table = _MBV2_FIRST_BLOCK if index == 1 else _MBV2_BLOCK
    return f"features.{index}.{table[layer]}.{rest}"


# official FPNInception: enc0 = conv2d_1a; enc1 = (conv2d_2a, conv2d_2b, maxpool_3a); enc2 = (conv2d_3b,
# conv2d_4a, maxpool_5a); enc3 = (mixed_5b, repeat, mixed_6a); enc4 = (repeat_1, mixed_7a)
_IRV2_ENC = {
    "conv2d_1a": "enc0", "conv2d_2a": "enc1.0", "conv2d_2b": "enc1.1", "conv2d_3b": "enc2.0",
    "conv2d_4a": "enc2.1", "mixed_5b": "enc3.0", "repeat": "enc3.1", "mixed_6a": "enc3.2",
    "repeat_1": "enc4.0", "mixed_7a": "enc4.1",
}  # fmt: skip


def _norm_stats(prefix: str, c: int) -> dict[str, torch.Tensor]:
    """InstanceNorm2d(affine=False, track_running_stats=True) buffers of the official FPN."""
    return {f"{prefix}.running_mean": torch.randn(c), f"{prefix}.running_var": torch.rand(c) + 0.5,
            f"{prefix}.num_batches_tracked": torch.tensor(7)}  # fmt: skip


def _fake_official_v2(model: FPNGenerator, arch: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """Our random state dict rewritten in the official layout (with aliases, unused layers, IN stats)."""
    import timm

    ours = {k: torch.randn_like(v) if v.is_floating_point() else v.clone() for k, v in model.state_dict().items()}
    official: dict[str, torch.Tensor] = {}
    timm_name = "mobilenetv2_100" if arch == "fpn_mobilenet" else "inception_resnet_v2"
    with torch.device("meta"):
        full = timm.create_model(timm_name, pretrained=False, num_classes=1000).state_dict()
    head_width = 64 if arch == "fpn_mobilenet" else 128
    for k, v in ours.items():
        if not k.startswith("fpn.backbone."):
            official[k] = v
            continue
        name = k[len("fpn.backbone.") :]
        if arch == "fpn_mobilenet":
            off = _timm_mbv2_to_official(name)
            official[f"fpn.{off}"] = v
            index = int(off.split(".")[1])
            for enc, idx in _MBV2_ENC.items():
                if index in idx:
                    official[f"fpn.enc{enc}.{index - idx.start}.{off.split('.', 2)[2]}"] = v
        else:
            module, tail = name.split(".", 1)
            official[f"fpn.inception.{name}"] = v
            official[f"fpn.{_IRV2_ENC[module]}.{tail}"] = v
    for k, v in full.items():  # layers the official FPN holds but never uses
        if arch == "fpn_mobilenet" and k.startswith(("blocks.5.2.", "blocks.6.", "conv_head.", "bn2.")):
            official[f"fpn.{_timm_mbv2_to_official(k)}"] = torch.randn(v.shape) if v.dim() else torch.tensor(3)
        if arch == "fpn_inception" and k.startswith(("repeat_2.", "block8.", "conv2d_7b.", "classif.")):
            name = k.replace("classif.", "last_linear.")
            official[f"fpn.inception.{name}"] = torch.randn(v.shape) if v.dim() else torch.tensor(3)
    fpn_width = 2 * head_width
    for prefix, c in (("fpn.td1.1", fpn_width), ("fpn.td2.1", fpn_width), ("fpn.td3.1", fpn_width),
                      ("smooth.1", head_width), ("smooth2.1", head_width // 2)):  # fmt: skip
        official.update(_norm_stats(prefix, c))
    checkpoint = {"model": {"module." + k: v for k, v in official.items()}}
    return checkpoint, ours


@pytest.mark.parametrize(
    "factory, arch, n_official, file_bytes",
    [
        (deblurganv2_fpn_mobilenet, "fpn_mobilenet", 622, 13_505_344),
        (deblurganv2_fpn_inception, "fpn_inception", 2384, 244_480_361),
    ],
)
def test_deblurganv2_converter_strict_load(factory, arch, n_official, file_bytes):
    model = factory()
    checkpoint, ours = _fake_official_v2(model, arch)
    official = checkpoint["model"]
    assert len(official) == n_official  # = len(state_dict()) of the official module (aliases counted twice)
    # the unique tensor bytes of that layout just fit the released file (the rest is pickle overhead)
    unique = {k: v for k, v in official.items() if ".enc" not in k}
    tensor_bytes = sum(v.numel() * v.element_size() for v in unique.values())
    assert 0 < file_bytes - tensor_bytes < 300 * len(official)
    converted = convert_deblurganv2(checkpoint, arch)
    assert set(converted) == set(ours)
    _assert_loads_exactly(model, converted)
    for k, v in model.state_dict().items():
        assert torch.equal(v, ours[k]), k
    # dropped on purpose vs unknown
    assert deblurganv2_key("fpn.td1.1.running_mean", arch) is None
    with pytest.raises(KeyError):
        deblurganv2_key("fpn.something_else.weight", arch)
    # an alias that disagrees with its canonical entry is an error
    alias = next(k for k in official if ".enc1." in k and k.endswith("weight"))
    bad = dict(official)
    bad[alias] = bad[alias] + 1
    with pytest.raises(ValueError, match="alias"):
        convert_deblurganv2({"model": bad}, arch)


def test_deblurganv2_mobilenet_forward_odd_size():
    gen = deblurganv2_fpn_mobilenet().eval()
    x = torch.rand(1, 3, 67, 53) * 2 - 1
    assert gen.padded_size(67, 53) == (96, 64)
    assert gen.padded_size(64, 64) == (96, 96)  # official predict.py always adds a block
    with torch.no_grad():
        y = gen(x)
        assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
        nn.init.zeros_(gen.final.weight)
        nn.init.zeros_(gen.final.bias)
        torch.testing.assert_close(gen(x), x)  # clamp(tanh(0) + x) = x, pad/crop exact
    rep = FPNGenerator("mobilenetv2", pad_mode="replicate")
    assert rep.padded_size(67, 53) == (96, 64) and rep.padded_size(64, 64) == (64, 64)


def test_deblurganv2_bn_input_stats_switch():
    a = deblurganv2_fpn_mobilenet(pad_mode="replicate").eval()
    b = deblurganv2_fpn_mobilenet(pad_mode="replicate", backbone_bn_input_stats=True).eval()
    assert list(a.state_dict()) == list(b.state_dict())
    with torch.no_grad():  # make running stats differ from the per-image stats
        for m in a.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.fill_(0.3)
                m.running_var.fill_(2.0)
        b.load_state_dict(a.state_dict())
        x = torch.rand(2, 3, 64, 64) * 2 - 1  # >= 64: per-image BN needs > 1 px at /32
        ya, yb = a(x), b(x)
        assert not torch.allclose(ya, yb)
        # per-image statistics: the result for one image does not depend on the rest of the batch
        torch.testing.assert_close(b(x[:1]), yb[:1], rtol=1e-4, atol=1e-4)
        a.train()
        b.train()  # train mode is the standard batch-statistics BatchNorm for both
        torch.testing.assert_close(a(x[:1]), b(x[:1]))


def test_deblurganv2_inception_forward_odd_size():
    gen = deblurganv2_fpn_inception().eval()
    x = torch.rand(1, 3, 67, 53) * 2 - 1
    assert gen.padded_size(67, 53) == (128, 128)  # >= 128: mixed_7a must give >= 2 px
    with torch.no_grad():
        y = gen(x)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1


# ============================================================================================ converters
def test_generic_converter_helpers():
    sd = {
        "module.a.weight": torch.ones(1),
        "module.n.running_mean": torch.zeros(1),
        "b.running_var": torch.ones(1),
    }
    assert unwrap_state_dict({"model": sd}) == sd
    assert unwrap_state_dict({"state_dict": sd, "epoch": 3}) == sd
    with pytest.raises(TypeError):
        unwrap_state_dict({"epoch": 3})
    assert set(strip_prefix(sd)) == {"a.weight", "n.running_mean", "b.running_var"}
    assert set(drop_instancenorm_running_stats(sd)) == {"module.a.weight"}
    kept = drop_instancenorm_running_stats(sd, model_keys=["b.running_var"])
    assert set(kept) == {"module.a.weight", "b.running_var"}
