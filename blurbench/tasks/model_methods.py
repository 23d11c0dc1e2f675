"""Anything that is a model is a method: evaluation tasks around a network, and the methods made from model sources.

- :class:`NetworkDeblurring`: a deblurring network from any source of :func:`blurbench.zoo.load`; images go in
  and out in the network's ``io_range`` ([0, 1], or [-1, 1] for the DeblurGAN family), recorded with its weights.
- :class:`CallableDeblurring` / :class:`CallableKernelEstimation`: a user's ``nn.Module`` or function (Python API,
  ``@FILE.yaml`` definitions).
- :func:`method_from_source`: ``--methods`` entries that are not registered names: a zoo name, ``hf-hub:ORG/NAME``,
  a converted directory, a training ``.ckpt``, or ``@FILE.yaml``. The task (hence the datasets and metrics) comes
  from the model's config.
- :func:`method_from_model`: the same for an object in memory (:func:`blurbench.evaluation.evaluate_model`).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor, nn

from blurbench.errors import ConfigError
from blurbench.tasks.base import EvaluationTask, ImageRestorationTask
from blurbench.tasks.kernel_estimation import BlurFieldNetMethod, KernelEstimationTask
from blurbench.tasks.registry import MethodSpec, get_method
from blurbench.zoo import describe, load
from blurbench.zoo.hub import load_state_dict_strict, read_checkpoint, verify_file

__all__ = ["CallableDeblurring", "CallableKernelEstimation", "NetworkDeblurring", "method_from_model",
           "method_from_source"]


def _to_range(x: Tensor, io_range: Sequence[float]) -> Tensor:
    lo, hi = io_range
    return x if (lo, hi) == (0.0, 1.0) else x * (hi - lo) + lo


def _from_range(y: Tensor, io_range: Sequence[float]) -> Tensor:
    lo, hi = io_range
    return y if (lo, hi) == (0.0, 1.0) else (y - lo) / (hi - lo)


class CallableDeblurring(ImageRestorationTask):
    """Deblurring by ``fn(blurry) -> restored``, images NCHW in ``io_range`` (default [0, 1]).

    ``fn`` may be an ``nn.Module`` (moved to the evaluation device with this task) or any callable.
    """

    def __init__(self, fn: Callable[[Tensor], Tensor], io_range: Sequence[float] = (0.0, 1.0)) -> None:
        super().__init__()
        self.net = fn if isinstance(fn, nn.Module) else None
        self._fn = fn
        self.io_range = tuple(float(v) for v in io_range)

    def restore(self, batch: dict[str, Any]) -> Tensor:
        return _from_range(self._fn(_to_range(batch["blurry"], self.io_range)), self.io_range)


class NetworkDeblurring(CallableDeblurring):
    """A deblurring network from ``model``, any source of :func:`blurbench.zoo.load` (eval mode, deterministic)."""

    def __init__(self, model: str) -> None:
        net = load(model)
        super().__init__(net, net.zoo_config.get("io_range", (0.0, 1.0)))


class CallableKernelEstimation(KernelEstimationTask):
    """Kernel estimation by ``fn(blurry [N,3,H,W] in [0,1]) -> (kernels [N,B,K,K], mixing [N,B,H,W])``."""

    def __init__(self, fn: Callable[[Tensor], tuple[Tensor, Tensor]]) -> None:
        super().__init__()
        self.net = fn if isinstance(fn, nn.Module) else None
        self._fn = fn

    def estimate(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        return self._fn(batch["blurry"])


#: task of a model -> (evaluation task built from a model source, from a callable, data kind)
_TASKS: dict[str, tuple[type[EvaluationTask], type[EvaluationTask], str]] = {
    "deblurring": (NetworkDeblurring, CallableDeblurring, "image"),
    "kernel-estimation": (BlurFieldNetMethod, CallableKernelEstimation, "image"),
}


def _task_of(task: str, what: str) -> tuple[type[EvaluationTask], type[EvaluationTask], str]:
    if task not in _TASKS:
        raise ConfigError(f"{what}: a '{task or 'unknown'}' model is not something blurbench evaluates on its own",
                          f"evaluable tasks: {', '.join(_TASKS)} (a denoiser plugs into a deblurring method, e.g. "
                          "FieldDeblurring(denoiser=...) in an @FILE.yaml)")
    return _TASKS[task]


def method_from_source(source: str) -> MethodSpec:
    """A :class:`MethodSpec` for a model source or an ``@FILE.yaml`` definition (module doc)."""
    if source.startswith("@"):
        return method_from_yaml(source[1:])

    cfg = describe(source)
    factory, _, kind = _task_of(cfg.get("task", ""), source)
    return MethodSpec(source, cfg["task"], kind, factory, f"{cfg['arch']} {cfg.get('ctor_args', {})} from {source}",
                      config={"model": source})


def _import(class_path: str, where: str) -> Any:
    module, _, attr = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError(f"{where}: cannot import class_path '{class_path}' ({err})",
                          "give a full dotted path to a class importable here (e.g. mypkg.models.MyNet)") from None


def method_from_yaml(path: str | Path) -> MethodSpec:
    """A method defined LightningCLI-style in a YAML file::

        name: my-method                         # optional (default: the file name)
        class_path: blurbench.tasks.deblur.FieldDeblurring   # an evaluation task ...
        init_args: {field: oracle, solver: tv}

        class_path: mypkg.MyNet                 # ... or a plain nn.Module with its task
        init_args: {width: 32}
        task: deblurring                        # or kernel-estimation
        weights: my_net.safetensors             # optional, loaded strictly (relative to the YAML file)
        io_range: [0, 1]                        # optional, deblurring networks
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"@{path}: no such file", "pass @PATH to a YAML file with class_path and init_args")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"@{path}: not valid YAML ({str(err).splitlines()[0]})", "fix the file") from None
    if not isinstance(spec, dict) or "class_path" not in spec:
        raise ConfigError(f"@{path}: needs a 'class_path' (and 'init_args')", "see `blurbench methods --help`")
    cls = _import(str(spec["class_path"]), f"@{path}")
    init_args = dict(spec.get("init_args") or {})
    name = str(spec.get("name") or path.stem)
    text = str(spec.get("description") or f"{spec['class_path']} {init_args} (@{path.name})")
    if isinstance(cls, type) and issubclass(cls, EvaluationTask):
        return MethodSpec(name, cls.task, cls.data_kind, cls, text, config=init_args)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ConfigError(f"@{path}: {spec['class_path']} is neither an evaluation task nor an nn.Module",
                          "point class_path at a blurbench task class or at your network class")
    _, wrapper, kind = _task_of(str(spec.get("task", "")), f"@{path} (set 'task:')")
    weights = spec.get("weights")
    weights = str((path.parent / weights).resolve()) if weights else None
    io_range = tuple(spec.get("io_range") or (0.0, 1.0))

    def build(**args: Any) -> EvaluationTask:
        net = cls(**args)
        if weights:
            net.weights_sha256 = verify_file(weights, None)
            load_state_dict_strict(net, read_checkpoint(weights), weights)
        net.eval()
        return wrapper(net, io_range) if wrapper is CallableDeblurring else wrapper(net)

    build.__qualname__ = f"yaml:{spec['class_path']}"
    return MethodSpec(name, wrapper.task, kind, build, text, config=init_args)


def method_from_model(model: Any, task: str | None = None, name: str | None = None,
                      io_range: Sequence[float] = (0.0, 1.0)) -> MethodSpec:
    """A :class:`MethodSpec` for a model in memory: an :class:`EvaluationTask`, an ``nn.Module`` or a callable
    (``task`` says which: ``deblurring`` or ``kernel-estimation``), or a model source string."""
    if isinstance(model, str):
        return get_method(model)
    if isinstance(model, EvaluationTask):
        return MethodSpec(name or type(model).__name__, model.task, model.data_kind, lambda **_: model,
                          f"{type(model).__name__} (Python object)")
    if not callable(model):
        raise ConfigError(f"{type(model).__name__} is not a model", "pass an nn.Module, a callable, an "
                          "EvaluationTask or a model source string")
    task = task or getattr(model, "zoo_config", {}).get("task")
    if task is None:
        raise ConfigError(f"{type(model).__name__}: which task does it do?", "pass task='deblurring' or "
                          "task='kernel-estimation'")
    _, wrapper, kind = _task_of(task, type(model).__name__)
    label = name or getattr(model, "__name__", None) or type(model).__name__
    if isinstance(model, nn.Module):
        model.eval()
    io = tuple(getattr(model, "zoo_config", {}).get("io_range", io_range))

    def build(**_: Any) -> EvaluationTask:  # the config only feeds the provenance hash
        return wrapper(model, io) if wrapper is CallableDeblurring else wrapper(model)

    # a fresh digest of the parameters stands in for a file digest (the provenance of in-memory weights)
    return MethodSpec(label, task, kind, build, f"{type(model).__name__} (Python object)",
                      config={"parameters_sha256": _parameters_digest(model), "io_range": list(io)})


def _parameters_digest(model: Any) -> str | None:
    if not isinstance(model, nn.Module):
        return None

    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().to("cpu", torch.float64).contiguous().numpy().tobytes())
    return h.hexdigest()
