"""The one weight path of blurbench: every way of naming a model resolves here to a verified, strict load.

A *model source* is one of:

- ``NAME``: a registered zoo entry (``blurbench zoo list``; shipped, Hub, URL or a copy you pulled);
- ``hf-hub:ORG/REPO[@REV]``: a Hub repo in our format (written by ``blurbench zoo push``);
- ``DIR``: a directory in our format (``config.json`` + ``model.safetensors``, written by ``blurbench zoo convert``
  or ``blurbench zoo export``);
- ``FILE.ckpt``: a checkpoint of a blurbench training task (``blurbench fit``): the network inside (DeblurGAN
  generator, blur-field network) is found from what the task recorded;
- ``FILE`` (``.pth``, ``.pt``, ``.h5``, ``.safetensors``): an official or plain weights file. It needs the
  architecture (``arch=``, which a training task passes for its own network); official layouts are recognised
  from their keys and go through their own converter (DeblurGAN v1, DeblurGAN-v2 FPN).

Any source may end with ``#sha256=HEX``: the expected digest of the file it names (checked before reading).
Loaded networks carry ``weights_sha256`` (for provenance) and ``zoo_config`` (name, arch, ctor_args, task,
io_range, input_convention): what tells the evaluation pipeline which task, datasets and input range follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from blurbench.errors import ConfigError, DataError
from blurbench.hub import HUB_PREFIX
from blurbench.zoo import hub
from blurbench.zoo.registry import (
    _REGISTRY,
    ARCH_IO_RANGE,
    build_arch,
    get_model_spec,
)
from blurbench.zoo.source_names import CKPT_SUFFIX, SHA_SUFFIX, is_model_source, split_digest

__all__ = ["SHA_SUFFIX", "describe", "is_model_source", "load", "split_digest"]

_FORMS = ("a zoo name (`blurbench zoo list`), hf-hub:ORG/REPO, a directory written by `blurbench zoo convert`/"
          "`export`, a .ckpt of `blurbench fit`, or a weights file with its architecture")


def _config_of_spec(name: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    spec = get_model_spec(name)
    return {"name": spec.name, "arch": spec.arch, "ctor_args": {**spec.ctor_args, **overrides}, "task": spec.task,
            "input_convention": spec.input_convention, "io_range": list(spec.io_range)}


def _with_defaults(cfg: dict[str, Any]) -> dict[str, Any]:
    """A config with ``io_range`` filled in from its architecture when an older file lacks it."""
    cfg = dict(cfg)
    cfg.setdefault("io_range", list(ARCH_IO_RANGE.get(cfg.get("arch", ""), (0.0, 1.0))))
    return cfg


def _checkpoint_network(obj: Any, path: Path) -> tuple[str, dict[str, Any], str, str]:
    """(arch, ctor_args, key prefix, task) of the network inside a blurbench training checkpoint."""
    hp = obj.get("hyper_parameters") or {} if isinstance(obj, Mapping) else {}
    if hp.get("generator_arch"):
        return hp["generator_arch"], dict(hp.get("generator_args") or {}), "generator.", "deblurring"
    net = obj.get("blurfield_network") if isinstance(obj, Mapping) else None
    if net:
        args = {k: net[k] for k in ("kernel_size", "num_basis", "base_width", "gamma") if k in net}
        return "BlurFieldNet", args, "network.", "kernel-estimation"
    raise DataError(f"{path}: not a checkpoint of a blurbench training task (no generator_arch or blur-field "
                    "network recorded)", "pass the .ckpt written by `blurbench fit`, or convert the file with "
                    "`blurbench zoo convert --arch ARCH --checkpoint FILE --out DIR` and pass DIR")


def describe(source: str, *, arch: str | None = None, ctor_args: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The config of ``source`` (name, arch, ctor_args, task, io_range, input_convention) without loading weights
    where the form allows (a ``.ckpt`` is read; a Hub repo's ``config.json`` is fetched)."""
    base, _ = split_digest(source)
    if base.startswith(HUB_PREFIX):
        cfg = hub.hub_repo_config(base[len(HUB_PREFIX):])
        return _with_defaults({**cfg, "name": base})
    if base in _REGISTRY:
        return _config_of_spec(base, ctor_args or {})
    path = Path(base).expanduser()
    if path.is_dir():
        return _with_defaults(hub.read_config(path))
    if not path.is_file():
        raise ConfigError(f"'{source}' not found: no zoo entry, directory or file of that name", _FORMS)
    return _file_config(path, hub.read_checkpoint(path) if path.suffix == CKPT_SUFFIX else None, arch, ctor_args)


def _file_config(path: Path, ckpt: Any, arch: str | None, ctor_args: Mapping[str, Any] | None) -> dict[str, Any]:
    """Config of a weights file: recorded in ``ckpt`` (the content of a ``.ckpt``), else from ``arch``."""
    if path.suffix == CKPT_SUFFIX:
        a, args, _, task = _checkpoint_network(ckpt, path)
        return _with_defaults({"name": path.stem, "arch": a, "ctor_args": args, "task": task,
                               "input_convention": "", "source": {"file": path.name}})
    if arch is None:
        raise ConfigError(f"{path}: a bare weights file does not say which network it holds",
                          f"convert it first (`blurbench zoo convert --arch ARCH [--arg K=V] --checkpoint {path} "
                          "--out DIR`, or `zoo convert NAME` for an official file) and pass DIR")
    family = next((s for s in _REGISTRY.values() if s.arch == arch), None)
    return _with_defaults({"name": path.stem, "arch": arch, "ctor_args": dict(ctor_args or {}),
                           "task": family.task if family else "", "input_convention": "",
                           "source": {"file": path.name}})


def load(source: str, pretrained: bool = True, *, sha256: str | None = None, allow_unverified: bool = False,
         local_file: str | Path | None = None, revision: str | None = None, arch: str | None = None,
         ctor_args: Mapping[str, Any] | None = None, **overrides: Any) -> nn.Module:
    """Build and load the model ``source`` names (module doc): verified, strict, in eval mode.

    ``arch``/``ctor_args`` say which network a bare weights file holds (ignored by forms that record it);
    ``overrides`` update the recorded constructor arguments (e.g. ``gamma``). ``sha256``, ``allow_unverified``,
    ``local_file`` and ``revision`` apply to zoo names (see :func:`blurbench.zoo.hub.pull`).
    """
    base, digest = split_digest(source)
    if digest is not None and sha256 is not None and digest != sha256.lower():
        raise ConfigError(f"{source}: two different digests given ({sha256})", "pass one sha256")
    sha256 = digest or sha256
    if base.startswith(HUB_PREFIX):
        model = hub.load_hub_repo(base[len(HUB_PREFIX):], revision=revision, **overrides)
        model.zoo_config = _with_defaults({**model.zoo_config, "name": base})
        return model
    if base in _REGISTRY:
        model = hub.load_registered(base, pretrained, sha256=sha256, allow_unverified=allow_unverified,
                                    local_file=local_file, revision=revision, **overrides)
        if not hasattr(model, "zoo_config"):
            model.zoo_config = _config_of_spec(base, overrides)
        return model
    path = Path(base).expanduser()
    if path.is_dir():
        model = hub.load_local(path, **overrides)
        model.zoo_config = _with_defaults(model.zoo_config)
        return model
    if not path.is_file():
        raise ConfigError(f"'{source}' not found: no zoo entry, directory or file of that name", _FORMS)
    # verified before it is read, and read once: a .ckpt gives both the network's config and its weights
    file_digest = hub.verify_file(path, sha256, None, str(path)) if pretrained else None
    obj = hub.read_checkpoint(path) if pretrained or path.suffix == CKPT_SUFFIX else None
    cfg = _file_config(path, obj, arch, ctor_args)
    args = {**cfg["ctor_args"], **overrides}
    model = build_arch(cfg["arch"], args)
    if not pretrained:
        model.zoo_config = cfg
        return model.eval()
    if path.suffix == CKPT_SUFFIX:
        _, _, prefix, _ = _checkpoint_network(obj, path)
        sd = hub.convert_checkpoint(obj, "state_dict", set(model.state_dict()), prefix)
    else:
        sd = hub.convert_checkpoint(obj, hub.detect_converter(obj, cfg["arch"]), set(model.state_dict()))
    hub.load_state_dict_strict(model, sd, str(path))
    model.weights_sha256 = file_digest
    model.zoo_config = {**cfg, "ctor_args": args}
    return model.eval()
