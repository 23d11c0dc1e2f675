"""State-dict converters from the official checkpoint formats to the blurbench zoo modules.

Every converter is loud: a key it does not recognise raises ``KeyError``; keys dropped on purpose (unused
layers, legacy running statistics, aliases) are listed at INFO level by the ``blurbench.zoo.converters`` logger.

- Carbajal et al. (``carbajal_kernel_identification_network.pth``) and DRUNet (``drunet_color.pth``) are plain
  state dicts already in our key layout: :func:`unwrap_state_dict` is enough.
- DeblurGAN v1 (KupynOrest/DeblurGAN, June 2018): files written by PyTorch <= 0.3 carry InstanceNorm
  ``running_mean`` / ``running_var`` buffers that the generator (``affine=False``, no running stats) does not
  have: :func:`convert_deblurgan_v1` / :func:`drop_instancenorm_running_stats`.
- DeblurGAN-v2 (VITA-Group/DeblurGANv2): ``{'model': state_dict}`` of an ``nn.DataParallel`` (``module.``
  prefix) whose backbone appears twice (``fpn.features.*`` / ``fpn.inception.*`` and the aliases
  ``fpn.enc0..enc4``), with the official MobileNetV2 names or Cadene's Inception-ResNet-v2 names, plus
  InstanceNorm running statistics: :func:`convert_deblurganv2` maps it to
  :class:`~blurbench.zoo.deblurganv2.FPNGenerator` (timm backbone names under ``fpn.backbone``).
- torchvision's VGG19 (``vgg19-dcbb9e9d.pth``) for the perceptual loss: :func:`convert_vgg19_features` keeps
  ``features.0..14`` (:func:`~blurbench.zoo.vgg.vgg19_conv3_3`) and drops the deeper layers and the classifier.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "IRV2_STAGES",
    "MOBILENETV2_STAGE_DEPTHS",
    "convert_deblurgan_v1",
    "convert_deblurganv2",
    "convert_vgg19_features",
    "deblurganv2_key",
    "drop_instancenorm_running_stats",
    "strip_prefix",
    "unwrap_state_dict",
]

log = logging.getLogger(__name__)

_RUNNING_STATS = ("running_mean", "running_var", "num_batches_tracked")


# ------------------------------------------------------------------------------------------- generic
def unwrap_state_dict(obj: Any, wrappers: Iterable[str] = ("state_dict", "model", "params_ema", "params")) -> dict:
    """The state dict inside a checkpoint (``{'model': sd}``, ``{'state_dict': sd}``, ...) or ``obj``."""
    if not isinstance(obj, Mapping):
        raise TypeError(f"expected a mapping, got {type(obj).__name__}")
    for key in wrappers:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and inner and all(isinstance(v, Tensor) for v in inner.values()):
            return dict(inner)
    if not all(isinstance(v, Tensor) for v in obj.values()):
        bad = [k for k, v in obj.items() if not isinstance(v, Tensor)][:5]
        raise TypeError(f"not a state dict: non-tensor entries {bad}")
    return dict(obj)


def strip_prefix(state_dict: Mapping[str, Tensor], prefix: str = "module.") -> dict[str, Tensor]:
    """Remove ``prefix`` from every key that starts with it (``nn.DataParallel`` checkpoints)."""
    return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in state_dict.items()}


def drop_instancenorm_running_stats(
    state_dict: Mapping[str, Tensor], model_keys: Iterable[str] | None = None
) -> dict[str, Tensor]:
    """Drop ``running_mean`` / ``running_var`` / ``num_batches_tracked`` entries.

    With ``model_keys`` (the target model's state-dict keys) only the entries the model does not have are
    dropped, so BatchNorm statistics the model does use are kept; without it every such entry is dropped
    (right for DeblurGAN v1, whose only norm layers are parameter-free instance norms).
    """
    keep = set(model_keys) if model_keys is not None else set()
    out, dropped = {}, []
    for k, v in state_dict.items():
        if k.rsplit(".", 1)[-1] in _RUNNING_STATS and k not in keep:
            dropped.append(k)
        else:
            out[k] = v
    if dropped:
        log.info("dropped %d norm running-stat entries: %s", len(dropped), dropped)
    return out


# -------------------------------------------------------------------------------------- DeblurGAN v1
def convert_deblurgan_v1(checkpoint: Any) -> dict[str, Tensor]:
    """Official DeblurGAN v1 generator or critic file → state dict for ``DeblurGANGenerator`` /
    ``PatchGANCritic`` (same key layout; removes ``module.`` and the legacy InstanceNorm statistics)."""
    return drop_instancenorm_running_stats(strip_prefix(unwrap_state_dict(checkpoint)))


# --------------------------------------------------------------------------------------------- VGG19
def convert_vgg19_features(checkpoint: Any, layers: int = 15) -> dict[str, Tensor]:
    """torchvision/timm VGG19 file → state dict of ``features[:layers]`` (keys ``N.weight`` / ``N.bias``).

    Keys outside ``features.`` (the classifier) and deeper features are dropped and listed; a file without any
    ``features.`` key is returned empty, so that the strict load names every missing layer.
    """
    sd = unwrap_state_dict(checkpoint)
    out, dropped = {}, []
    for k, v in sd.items():
        index = k[len("features."):].split(".", 1)[0] if k.startswith("features.") else ""
        if index.isdigit() and int(index) < layers:
            out[k[len("features."):]] = v
        else:
            dropped.append(k)
    if dropped:
        log.info("kept features.0..%d of VGG19; dropped %d entries: %s", layers - 1, len(dropped), dropped)
    return out


# ---------------------------------------------------------------------------------------- DeblurGAN-v2
#: Blocks per stage of timm ``mobilenetv2_100`` (the official ``features[1..17]`` in order).
MOBILENETV2_STAGE_DEPTHS = (1, 2, 3, 4, 3, 3, 1)

# official ``MobileNetV2.features`` index -> timm name, for the indices the FPN uses (0..15)
_MBV2_BLOCK = {
    1 + sum(MOBILENETV2_STAGE_DEPTHS[:stage]) + j: f"blocks.{stage}.{j}"
    for stage, depth in enumerate(MOBILENETV2_STAGE_DEPTHS)
    for j in range(depth)
}
_MBV2_USED = 16  # enc4 = features[11:16]; features 16, 17, 18 are not used by the FPN
# Sequential index inside the official block -> timm name (expand_ratio 1 block, then the others)
_MBV2_DS = {"conv.0": "conv_dw", "conv.1": "bn1", "conv.3": "conv_pw", "conv.4": "bn2"}
_MBV2_IR = {
    "conv.0": "conv_pw",
    "conv.1": "bn1",
    "conv.3": "conv_dw",
    "conv.4": "bn2",
    "conv.6": "conv_pwl",
    "conv.7": "bn3",
}
# aliases: official ``fpn.encK.j`` = ``fpn.features[start + j]``
_MBV2_ENC_START = {0: 0, 1: 2, 2: 4, 3: 7, 4: 11}

#: timm ``inception_resnet_v2`` modules of the FPN's five encoder stages (official ``FPN.enc0..enc4``), in order
IRV2_STAGES = (
    ("conv2d_1a",),
    ("conv2d_2a", "conv2d_2b", "maxpool_3a"),
    ("conv2d_3b", "conv2d_4a", "maxpool_5a"),
    ("mixed_5b", "repeat", "mixed_6a"),
    ("repeat_1", "mixed_7a"),
)
_IRV2_USED = {name for stage in IRV2_STAGES for name in stage}
_IRV2_UNUSED = ("repeat_2", "block8", "conv2d_7b", "last_linear")

_V2_HEAD_PREFIXES = (
    "fpn.td1.",
    "fpn.td2.",
    "fpn.td3.",
    "fpn.lateral",
    "head1.",
    "head2.",
    "head3.",
    "head4.",
    "smooth.",
    "smooth2.",
    "final.",
)
_V2_NORM_MODULES = ("fpn.td1.1.", "fpn.td2.1.", "fpn.td3.1.", "smooth.1.", "smooth2.1.")


def _mbv2_feature_key(index: int, rest: str) -> str | None:
    """Official ``features.{index}.{rest}`` → key under the timm backbone, or None if unused."""
    if index >= _MBV2_USED:
        return None
    if index == 0:  # conv_bn: 0 conv, 1 bn
        sub, _, tail = rest.partition(".")
        name = {"0": "conv_stem", "1": "bn1"}.get(sub)
        if name is None:
            raise KeyError(f"features.0.{rest}")
        return f"{name}.{tail}"
    table = _MBV2_DS if index == 1 else _MBV2_IR
    parts = rest.split(".")
    name = table.get(".".join(parts[:2]))
    if name is None:
        raise KeyError(f"features.{index}.{rest}")
    return f"{_MBV2_BLOCK[index]}.{name}.{'.'.join(parts[2:])}"


def deblurganv2_key(key: str, arch: str) -> str | None:
    """Map one official DeblurGAN-v2 key (``module.`` already removed) to ours; None = dropped on purpose.

    ``arch`` is ``"fpn_mobilenet"`` or ``"fpn_inception"``. Raises ``KeyError`` for an unknown key.
    """
    if key.startswith(_V2_NORM_MODULES) and key.rsplit(".", 1)[-1] in _RUNNING_STATS:
        return None  # InstanceNorm running stats: unused by the (train-mode) official inference
    if key.startswith(_V2_HEAD_PREFIXES):
        return key
    if not key.startswith("fpn."):
        raise KeyError(key)
    rest = key[len("fpn.") :]
    if arch == "fpn_mobilenet":
        if rest.startswith("features."):
            _, idx, tail = rest.split(".", 2)
            new = _mbv2_feature_key(int(idx), tail)
        elif rest.startswith("enc"):
            enc, j, tail = rest.split(".", 2)
            stage = int(enc[3:])
            if stage not in _MBV2_ENC_START:
                raise KeyError(key)
            new = _mbv2_feature_key(_MBV2_ENC_START[stage] + int(j), tail)
        else:
            raise KeyError(key)
    elif arch == "fpn_inception":
        if rest.startswith("inception."):
            _, name, tail = rest.split(".", 2)
            if name in _IRV2_UNUSED:
                return None
            if name not in _IRV2_USED:
                raise KeyError(key)
            new = f"{name}.{tail}"
        elif rest.startswith("enc"):
            enc, _, tail = rest.partition(".")
            stage = int(enc[3:])
            if stage not in range(len(IRV2_STAGES)):
                raise KeyError(key)
            names = IRV2_STAGES[stage]
            if stage == 0:  # enc0 is conv2d_1a itself, not a Sequential
                new = f"{names[0]}.{tail}"
            else:
                j, _, tail = tail.partition(".")
                new = f"{names[int(j)]}.{tail}"
        else:
            raise KeyError(key)
    else:
        raise ValueError(f"unknown arch {arch!r}; expected 'fpn_mobilenet' or 'fpn_inception'")
    return None if new is None else f"fpn.backbone.{new}"


def convert_deblurganv2(checkpoint: Any, arch: str) -> dict[str, Tensor]:
    """Official ``fpn_mobilenet.h5`` / ``fpn_inception.h5`` content → state dict for ``FPNGenerator``.

    Accepts ``{'model': sd}`` or a bare state dict, with or without ``module.``. The backbone aliases
    (``fpn.encK.*``) must agree with the canonical entries (``fpn.features.*`` / ``fpn.inception.*``); unused
    backbone layers and InstanceNorm running statistics are dropped.
    """
    sd = strip_prefix(unwrap_state_dict(checkpoint))
    out: dict[str, Tensor] = {}
    dropped: list[str] = []
    for key, value in sd.items():
        new = deblurganv2_key(key, arch)
        if new is None:
            dropped.append(key)
            continue
        if new in out:  # an alias of an entry already seen: it must be the same tensor
            if out[new].shape != value.shape or not bool((out[new] == value).all()):
                raise ValueError(f"official alias {key!r} disagrees with the entry mapped to {new!r}")
            continue
        out[new] = value
    for key in [k for k in out if k.endswith(".running_mean")]:  # files from PyTorch < 0.4.1
        counter = key[: -len("running_mean")] + "num_batches_tracked"
        if counter not in out:
            out[counter] = torch.tensor(0, dtype=torch.long)
            log.info("added missing %s = 0 (unused with the default momentum)", counter)
    log.info("DeblurGAN-v2 %s: %d tensors kept, %d dropped: %s", arch, len(out), len(dropped), dropped)
    return out
