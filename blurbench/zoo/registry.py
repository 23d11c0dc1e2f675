"""The model zoo registry: one typed entry per pretrained model, with where its weights live and their sha256.

Each :class:`ModelSpec` names an architecture (a factory in :data:`ARCHITECTURES`) and the constructor arguments,
the task, the input convention, the licence, the paper, and a :class:`WeightSource`:

- ``hub``: a Hugging Face Hub repo id + filename (+ pinned revision), fetched with ``hf_hub_download``;
- ``url``: an official URL outside the Hub, downloaded with resume into the blurbench cache;
- ``package``: a directory in our format (``config.json`` + ``model.safetensors``, as written by
  ``blurbench zoo export``) shipped inside this package (``blurbench/zoo/weights/<name>/``), sha256 pinned here;
- ``none``: no working download (the reason is in ``note``).

A source with ``sha256=None`` is *unverified*: :func:`blurbench.zoo.load` refuses it unless the caller passes an
expected ``sha256=`` or ``allow_unverified=True`` (CLI: ``--sha256`` / ``--allow-unverified``).
Entries are registered explicitly below (no scanning); a duplicate name raises.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from blurbench.errors import ConfigError

if TYPE_CHECKING:  # torch is imported by the architectures themselves: listing the zoo stays fast
    from torch import nn

__all__ = [
    "ARCHITECTURES",
    "ARCH_IO_RANGE",
    "ModelSpec",
    "WeightSource",
    "build_arch",
    "get_model_spec",
    "list_models",
    "register_model",
    "shipped_weights_dir",
]

SourceKind = Literal["hub", "url", "package", "none"]


# ------------------------------------------------------------------------------------------ architectures
_ARCH_PATHS = {
    # released variants (factories that only set arguments)
    "blurfield_carbajal2021": "carbajal:blurfield_carbajal2021",
    "blurfield_small": "carbajal:blurfield_small",
    "drunet_color": "drunet:drunet_color",
    "drunet_gray": "drunet:drunet_gray",
    "deblurgan_v1": "deblurgan:deblurgan_v1",
    "deblurganv2_fpn_mobilenet": "deblurganv2:deblurganv2_fpn_mobilenet",
    "deblurganv2_fpn_inception": "deblurganv2:deblurganv2_fpn_inception",
    # the classes themselves, for trained checkpoints with other widths (same key layout)
    "BlurFieldNet": "carbajal:BlurFieldNet",
    "DRUNet": "drunet:DRUNet",
    "DeblurGANGenerator": "deblurgan:DeblurGANGenerator",
    "FPNGenerator": "deblurganv2:FPNGenerator",
    # feature networks of the losses
    "vgg19_conv3_3": "vgg:vgg19_conv3_3",
}


class _Architectures(Mapping):
    """Name -> factory table; a module is imported only when one of its factories is used (timm is slow)."""

    def __getitem__(self, key: str) -> Callable[..., nn.Module]:
        module, attr = _ARCH_PATHS[key].split(":")
        return getattr(importlib.import_module(f"blurbench.zoo.{module}"), attr)

    def __iter__(self):
        return iter(_ARCH_PATHS)

    def __len__(self) -> int:
        return len(_ARCH_PATHS)


#: architecture name (as stored in ``config.json`` ``arch``) -> factory / class
ARCHITECTURES: Mapping[str, Callable[..., nn.Module]] = _Architectures()

_GAN_RANGE = (-1.0, 1.0)
#: image value range of the architectures that do not work in [0, 1] (configs written before ``io_range``
#: was recorded take it from here)
ARCH_IO_RANGE: dict[str, tuple[float, float]] = {
    "deblurgan_v1": _GAN_RANGE, "DeblurGANGenerator": _GAN_RANGE, "deblurganv2_fpn_mobilenet": _GAN_RANGE,
    "deblurganv2_fpn_inception": _GAN_RANGE, "FPNGenerator": _GAN_RANGE,
}


def build_arch(arch: str, ctor_args: Mapping[str, Any] | None = None) -> nn.Module:
    """Instantiate ``ARCHITECTURES[arch](**ctor_args)``; unknown names or arguments raise :class:`ConfigError`."""
    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture '{arch}'", f"known: {', '.join(sorted(ARCHITECTURES))}")
    try:
        return ARCHITECTURES[arch](**dict(ctor_args or {}))
    except TypeError as err:
        raise ConfigError(f"architecture '{arch}': bad constructor arguments {dict(ctor_args or {})}: {err}",
                          "check the arguments against the factory's signature") from None


# ----------------------------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class WeightSource:
    """Where one model's weights come from, and how to check and convert them.

    Args:
        kind: ``hub``, ``url``, ``package`` or ``none``.
        repo_id / filename / revision: the Hub file (``hub``); ``filename`` is also the file name for ``url`` and
            ``package`` sources. ``revision`` pins a commit so the sha256 stays valid.
        url: the official URL (``url``), or for information where no download works (``none``).
        sha256 / size: expected digest and byte size; ``None`` = unknown (the file is then refused unless the
            user passes ``sha256=`` or ``allow_unverified=True``). Package sources read both from the sidecar.
        converter: how the file's content becomes our state dict: ``state_dict`` (plain or wrapped state
            dict), ``deblurgan_v1``, ``deblurganv2_fpn_mobilenet``, ``deblurganv2_fpn_inception``, ``safetensors``.
        note: anything a user must know (dead link, provenance of the sha256).
    """

    kind: SourceKind
    filename: str | None = None
    repo_id: str | None = None
    revision: str | None = None
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    converter: str = "state_dict"
    note: str = ""

    def location(self) -> str:
        """A one-line human description of where the file is."""
        if self.kind == "hub":
            rev = f"@{self.revision[:7]}" if self.revision else ""
            return f"hf://{self.repo_id}{rev}/{self.filename}"
        if self.kind == "url":
            return self.url or ""
        if self.kind == "package":
            return f"blurbench/zoo/weights/{self.filename}"
        return self.url or "none"

    def download_url(self, endpoint: str = "https://huggingface.co") -> str | None:
        if self.kind == "hub":
            return f"{endpoint.rstrip('/')}/{self.repo_id}/resolve/{self.revision or 'main'}/{self.filename}"
        return self.url if self.kind == "url" else None


@dataclass(frozen=True)
class ModelSpec:
    """One zoo entry (timm's ``PretrainedCfg`` + registry entry in one).

    ``arch`` + ``ctor_args`` build the network; ``input_convention`` states range, colour space and size
    constraints; ``weights`` is None for an architecture-only entry.
    """

    name: str
    arch: str
    task: str
    input_convention: str
    license: str
    paper: str
    description: str
    ctor_args: dict[str, Any] = field(default_factory=dict)
    weights: WeightSource | None = None
    code: str = ""
    #: value range the network reads and writes images in: (0, 1), or (-1, 1) for the DeblurGAN family
    io_range: tuple[float, float] = (0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add ``spec``; a duplicate name raises (``replace=True`` only for tests and deliberate overrides)."""
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"zoo model '{spec.name}' is already registered")
    if spec.weights is not None and spec.weights.sha256 is not None and len(spec.weights.sha256) != 64:
        raise ValueError(f"{spec.name}: sha256 must be 64 hex digits")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_model(name: str) -> None:
    _REGISTRY.pop(name, None)


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Sorted names matching the shell ``pattern``; ``pretrained=True`` keeps entries with a weight source."""
    return sorted(n for n, s in _REGISTRY.items() if fnmatch.fnmatchcase(n, pattern)
                  and (not pretrained or (s.weights is not None and s.weights.kind != "none")))


def get_model_spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown zoo model '{name}'", f"`blurbench zoo list` shows: {', '.join(list_models())}")
    return _REGISTRY[name]


# ------------------------------------------------------------------------------------------ shipped files
def shipped_weights_dir() -> Path:
    """``blurbench/zoo/weights`` inside the installed package."""
    return Path(str(resources.files("blurbench.zoo"))) / "weights"


# ----------------------------------------------------------------------------------------------- entries
_CARBAJAL_PAPER = ("Carbajal, Vitoria, Delbracio, Musé, Lezama, \"Non-uniform Blur Kernel Estimation via Adaptive "
                   "Basis Decomposition\", arXiv:2102.01026, 2021")
_BLURFIELD_INPUT = ("RGB (or gray) NCHW float32 in [0,1], H,W >= 32; forward applies x**gamma - 0.5 (gamma 2.2 sRGB, "
                    "1.0 linear); returns (kernels [N,25,33,33] correlation kernels summing to 1, mixing [N,25,H,W] "
                    "summing to 1 over the basis)")
_DEBLURGAN_INPUT = "RGB NCHW float32 in [-1,1] (x*2-1), any H,W (padded internally); output in [-1,1]"

register_model(ModelSpec(
    name="carbajal2021", arch="blurfield_carbajal2021", task="kernel-estimation",
    input_convention=_BLURFIELD_INPUT,
    license="bsd-3-clause (deepinv Hub repo card)", paper=_CARBAJAL_PAPER,
    code="https://github.com/GuillermoCarbajal/NonUniformBlurKernelEstimation",
    description="two-headed U-Net blur-field estimator, K=33, B=25 (79.8M parameters)",
    weights=WeightSource(
        kind="hub", repo_id="deepinv/kernel_identification", filename="carbajal_kernel_identification_network.pth",
        revision="83fc8ef1cfa885b48ff453d9bb0bb966db4ce8a3",
        sha256="a869f73b1902cc69f6e8093d7b91d83c8fcd78ddedf9005c256fd107ee3950af", size=319_358_293,
        note="sha256/size from the Hub LFS pointer of commit 83fc8ef"),
))
_SHIPPED_NOTE = "shipped in the package; made by the recipe recorded in its config.json (`blurbench zoo export`)"
register_model(ModelSpec(
    name="blurfield-small", arch="blurfield_small", task="kernel-estimation", ctor_args={"gamma": 1.0},
    input_convention=_BLURFIELD_INPUT.replace("gamma 2.2 sRGB, 1.0 linear", "trained with gamma 1.0: display space"),
    license="bsd-3-clause (blurbench)", paper=_CARBAJAL_PAPER + " (architecture; width 10, trained by blurbench)",
    description="CPU-trained small blur-field net (same structure, width 10, ~2.0M parameters), shipped in the package",
    weights=WeightSource(kind="package", filename="blurfield-small", converter="safetensors", note=_SHIPPED_NOTE,
                         sha256="3526735427b22fd4f7e016590b71fdb2cfbb3e450a6370ce8aad2038dcc51f4f", size=7_831_648),
))
register_model(ModelSpec(
    name="blurfield-small-sharp", arch="BlurFieldNet", task="kernel-estimation",
    ctor_args={"kernel_size": 33, "num_basis": 25, "base_width": 10, "gamma": 1.0},  # as `zoo export` records it
    input_convention=_BLURFIELD_INPUT.replace("gamma 2.2 sRGB, 1.0 linear", "trained with gamma 1.0: display space"),
    license="bsd-3-clause (blurbench)", paper=_CARBAJAL_PAPER + " (architecture; width 10, trained by blurbench)",
    description="blurfield-small's structure trained with sharp regions and independently moving objects "
                "(configs/blurfield/small_cpu_sharp): the field of blurfield-small-detection; worse camera-shake "
                "kernels than blurfield-small",
    weights=WeightSource(kind="package", filename="blurfield-small-sharp", converter="safetensors",
                         note=_SHIPPED_NOTE,
                         sha256="f4ef75fc62dbbf57f71480d5609bb52795354aa8b9f72b69ee8dac32e983e73b", size=7_831_648),
))
register_model(ModelSpec(
    name="drunet-color", arch="drunet_color", task="denoising",
    input_convention="RGB NCHW float32 in [0,1] and noise std sigma in [0,1] units (e.g. 7.65/255); "
                     "forward(x, sigma) pads to a multiple of 16 and crops back",
    license="bsd-3-clause (deepinv Hub repo card); upstream KAIR: MIT",
    paper="Zhang, Li, Zuo, Zhang, Van Gool, Timofte, \"Plug-and-Play Image Restoration with Deep Denoiser Prior\", "
          "TPAMI 2021",
    code="https://github.com/cszn/DPIR",
    description="DRUNet colour denoiser (UNetRes 4->3, nc 64..512, nb 4), the prior of Carbajal et al.'s deblurring",
    weights=WeightSource(
        kind="hub", repo_id="deepinv/drunet", filename="drunet_color.pth",
        revision="464ddb75edbb0d5d3b2f10a218c968788dfde2ab",
        sha256="479abe3c5327dfd10ff54a80ec7d4098ca80752a5c9492cdff31cee430bec4b4", size=130_579_305,
        note="sha256/size from the Hub LFS pointer of commit 464ddb7 (same digest as KAIR's release v1.0 file)"),
))
register_model(ModelSpec(
    name="deblurgan-v1", arch="deblurgan_v1", task="deblurring", input_convention=_DEBLURGAN_INPUT,
    io_range=_GAN_RANGE,
    license="BSD (upstream repository; unverified)",
    paper="Kupyn, Budzan, Mykhailych, Mishkin, Matas, \"DeblurGAN: Blind Motion Deblurring Using Conditional "
          "Adversarial Networks\", CVPR 2018",
    code="https://github.com/KupynOrest/DeblurGAN",
    description="DeblurGAN v1 ResNet generator (9 blocks, instance norm, learn_residual)",
    weights=WeightSource(
        kind="none", filename="latest_net_G.pth", converter="deblurgan_v1",
        url="https://drive.google.com/file/d/1liKzdjMRHZ-i5MWhC72EL7UZLNPj5_8Y/view?usp=sharing",
        note="official Google-Drive link is dead; no sha256 known. Convert your own copy: "
             "`blurbench zoo convert deblurgan-v1 --checkpoint FILE --out DIR`"),
))
_V2_PAPER = ("Kupyn, Martyniuk, Wu, Wang, \"DeblurGAN-v2: Deblurring (Orders-of-Magnitude) Faster and Better\", "
             "ICCV 2019")
register_model(ModelSpec(
    name="deblurganv2-fpn-mobilenet", arch="deblurganv2_fpn_mobilenet", task="deblurring",
    input_convention=_DEBLURGAN_INPUT, license="BSD-3-Clause (upstream repository; unverified)", paper=_V2_PAPER,
    io_range=_GAN_RANGE,
    code="https://github.com/VITA-Group/DeblurGANv2",
    description="DeblurGAN-v2 FPN over MobileNetV2 (FPN 128 / head 64)",
    weights=WeightSource(
        kind="url", filename="fpn_mobilenet.h5", converter="deblurganv2_fpn_mobilenet",
        url="https://drive.google.com/uc?export=view&id=1JhnT4BBeKBBSLqTo6UsJ13HeBXevarrU",
        sha256=None, size=13_505_344,
        note="URL and size from the official README; sha256 unknown: pass --sha256 or --allow-unverified"),
))
register_model(ModelSpec(
    name="deblurganv2-fpn-inception", arch="deblurganv2_fpn_inception", task="deblurring",
    input_convention=_DEBLURGAN_INPUT, license="BSD-3-Clause (upstream repository; unverified)", paper=_V2_PAPER,
    io_range=_GAN_RANGE,
    code="https://github.com/VITA-Group/DeblurGANv2",
    description="DeblurGAN-v2 FPN over Inception-ResNet-v2 (FPN 256 / head 128)",
    weights=WeightSource(
        kind="url", filename="fpn_inception.h5", converter="deblurganv2_fpn_inception",
        url="https://drive.google.com/uc?export=view&id=1UXcsRVW-6KF23_TNzxw-xC0SzaMfXOaR",
        sha256=None, size=244_480_361,
        note="URL and size from the official README; sha256 unknown: pass --sha256 or --allow-unverified"),
))

# The DeblurGAN family trained on CPU by the configs/deblurgan/small_cpu* recipes (Carbajal et al. 2021, Table 3 at
# built-in size): base, resume-training control, + reblur consistency through frozen blurfield-small.
_SMALL_GAN = {"ngf": 16, "n_blocks": 6, "use_dropout": False}
for _name, _sha, _text in (
    ("deblurgan-small", "3149cef2a51f01a8b3ad508dfed0cb5becda16d6cdfeb095cfbd1b1d9c8861c3",
     "DeblurGAN v1 recipe, reduced generator (ngf 16, 6 blocks), trained on CPU (configs/deblurgan/small_cpu, then "
     "small_cpu_stage2 on textured leaves with depth of field, then small_cpu_stage3 with natural photographs)"),
    ("deblurgan-small-resume", "7609ab6481ce475b82af2fb7edfe367493891af81a48d18b339f918d65f666aa",
     "deblurgan-small + resumed training, no reblur loss: the control (configs/deblurgan/small_cpu_resume)"),
    ("deblurgan-small-reblur", "bde1bbc3e3085ca5a81b74ca517ca7e6dbead444f074502e3a054e6f5dd81a32",
     "deblurgan-small fine-tuned with reblur consistency through frozen blurfield-small "
     "(configs/deblurgan/small_cpu_reblur)"),
    ("deblurgan-small-reblur-gt", "f096dba92dad8527c8ebe834ba7652289fd9acc72c996869940fd6864ed4365c",
     "deblurgan-small fine-tuned with reblur consistency through the ground-truth training field: the upper bound "
     "of the reblur row (configs/deblurgan/small_cpu_reblur_gt)"),
):
    register_model(ModelSpec(
        name=_name, arch="DeblurGANGenerator", task="deblurring", ctor_args=_SMALL_GAN,
        input_convention=_DEBLURGAN_INPUT, license="bsd-3-clause (blurbench)",
        paper="Kupyn et al. CVPR 2018 (architecture, reduced); trained by blurbench", description=_text,
        io_range=_GAN_RANGE,
        weights=WeightSource(kind="package", filename=_name, converter="safetensors", note=_SHIPPED_NOTE,
                             sha256=_sha, size=1_979_596),
    ))
register_model(ModelSpec(
    name="vgg19-conv3-3", arch="vgg19_conv3_3", task="feature-extraction",
    input_convention="ImageNet-normalised RGB NCHW float32 ((x - mean) / std of [0,1] images), any H,W; returns "
                     "the conv3_3 features [N,256,H/4,W/4] before their ReLU",
    license="BSD-3-Clause (torchvision)",
    paper="Simonyan, Zisserman, \"Very Deep Convolutional Networks for Large-Scale Image Recognition\", ICLR 2015",
    code="https://github.com/pytorch/vision",
    description="VGG19 features[:15] (conv1_1..conv3_3, ImageNet): the perceptual content loss of DeblurGAN v1/v2",
    weights=WeightSource(
        kind="url", filename="vgg19-dcbb9e9d.pth", url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        sha256="dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44", size=574_673_361,
        converter="vgg19_features",
        note="torchvision's ImageNet VGG19; only features.0..14 are read. The sha256 begins with torchvision's "
             "published hash prefix dcbb9e9d; the full digest and the size are from public weight manifests and "
             "download logs"),
))
