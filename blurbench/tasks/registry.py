"""Registry of evaluation methods (timm-style: one explicit registration per method, loud duplicates).

A method is a factory for an :class:`~blurbench.tasks.base.EvaluationTask` plus the metadata the
leaderboard needs. Its ``config`` holds every setting that changes its numbers (hashed for provenance).
The factory may be a ``"module:attr"`` string (:mod:`blurbench.lazy`): it is imported when the method is built, so
listing methods imports neither torch nor Lightning.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from blurbench.errors import ConfigError
from blurbench.lazy import Target, load_target, register_once, target_name
from blurbench.zoo.local import weights_on_disk
from blurbench.zoo.source_names import is_model_source


@dataclass(frozen=True)
class MethodSpec:
    name: str
    task: str
    data_kind: str
    #: the task class or a factory ``(**config) -> EvaluationTask``, or a ``"module:attr"`` string naming one
    factory: Target
    description: str
    config: dict[str, Any] = field(default_factory=dict)
    uses_gt_field: bool = False
    published_as: str | None = None
    #: part of the default set of `blurbench evaluate` (False for methods too slow for the 5-minute default run;
    #: they run with `--methods all` or by name)
    in_default: bool = True
    #: part of the committed built-in leaderboard (`blurbench leaderboard --regenerate`)
    in_leaderboard: bool = True
    #: zoo models whose weights it loads (a method is runnable once they are on this machine)
    needs_weights: tuple[str, ...] = ()

    def missing_weights(self) -> list[str]:
        """The zoo models in ``needs_weights`` whose weights are not on this machine (checked offline)."""
        return [m for m in self.needs_weights if not weights_on_disk(m)]

    def check_runnable(self) -> None:
        """One-line error when weights are missing, before any model is built."""
        missing = self.missing_weights()
        if missing:
            raise ConfigError(f"method '{self.name}' needs the weights of {', '.join(missing)}",
                              " and ".join(f"`blurbench zoo pull {m}`" for m in missing))

    def build(self):
        module = load_target(self.factory)(**self.config)
        module.method_name = self.name
        return module

    def config_hash(self) -> str:
        # the factory's defining module and qualname: a "module:attr" string hashes as the object it names
        payload = json.dumps({"factory": target_name(self.factory), "config": self.config}, sort_keys=True,
                             default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


_METHODS: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    return register_once(_METHODS, spec.name, spec, f"method '{spec.name}'")


def _ensure_loaded() -> None:
    # breaks a real cycle: methods.py registers through this module
    import blurbench.tasks.methods  # noqa: F401  (explicit registrations)


def methods(data_kind: str | None = None) -> list[MethodSpec]:
    _ensure_loaded()
    return [m for m in _METHODS.values() if data_kind is None or m.data_kind == data_kind]


#: what `--methods` accepts besides registered names
MODEL_FORMS = ("a zoo model name, hf-hub:ORG/NAME, a directory written by `blurbench zoo convert`/`export`, a .ckpt "
               "of `blurbench fit`, or @FILE.yaml (class_path + init_args of an evaluation task)")


def _names_a_method(name: str) -> bool:
    """Whether :func:`get_method` would resolve ``name`` rather than call it unknown (nothing is loaded)."""
    _ensure_loaded()
    # a name that looks like a path is resolved as one, so a typo in it is reported as a missing file
    return (name in _METHODS or name.startswith("@") or is_model_source(name) or "/" in name
            or name.endswith((".ckpt", ".pth", ".h5")))


def _unknown_method(name: str) -> ConfigError:
    return ConfigError(f"unknown method '{name}'", f"`blurbench methods` lists the registered ones; --methods also "
                                                   f"takes {MODEL_FORMS}")


def check_method_names(names: list[str] | None) -> None:
    """Stop on the first name that no form of ``--methods`` can mean, before anything heavy is imported (a typo
    then fails in under a second instead of after torch and Lightning load). ``all`` / ``default`` alone pass."""
    if not names or names in (["all"], ["default"]):
        return
    for name in names:
        if not _names_a_method(name):
            raise _unknown_method(name)


def get_method(name: str) -> MethodSpec:
    """A registered method, or a method made from a model source or an ``@FILE.yaml`` definition."""
    _ensure_loaded()
    if name in _METHODS:
        return _METHODS[name]
    if not _names_a_method(name):
        raise _unknown_method(name)
    # deferred: model methods import torch (a listing never gets here); model_methods imports this module
    from blurbench.tasks.model_methods import method_from_source

    return method_from_source(name)
