"""Registry of evaluation suites and their datasets (timm-style: explicit registration, loud duplicates).

Every dataset is registered in :mod:`blurbench.datamodules.datasets` by name, metadata and a ``"module:attr"``
reference (:mod:`blurbench.lazy`): listing suites and datasets imports no dataset module (hence neither torch nor
Lightning); a datamodule's module is imported when it is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from blurbench.errors import ConfigError
from blurbench.lazy import Target, load_target, register_once


def bind(target: Target, fixed: Mapping[str, Any], name: str | None = None) -> Callable[..., object]:
    """``factory(root, **kwargs)`` = ``target(root, **fixed, **kwargs)`` (``target`` imported now).

    A datamodule *class* built under a dataset ``name`` is given that name (one class serves several datasets:
    ``gopro`` and ``gopro-gamma``); a factory function is called as it is.
    """
    obj = load_target(target)
    if name is not None and isinstance(obj, type):
        return partial(_build_named, obj, name, dict(fixed))
    return partial(obj, **fixed) if fixed else obj


def _build_named(cls: type, name: str, fixed: dict[str, Any], root: str | Path | None, **kwargs: Any) -> object:
    dm = cls(root, **{**fixed, **kwargs})
    dm.name = name
    return dm


@dataclass(frozen=True)
class DatasetSpec:
    """How to build one evaluation dataset of a suite.

    ``factory(data_root, **kwargs)`` returns an :class:`EvaluationDataModule` (from ``target`` and the ``fixed``
    arguments, see :func:`bind`); ``data_root`` is None for suites that make their own data (the built-in benchmark).
    """

    suite: str
    name: str
    kind: str
    #: a datamodule class or a factory ``(root, **kwargs)``, usually as a ``"module:attr"`` string
    target: Target
    description: str = ""
    needs_root: bool = False
    #: samples carry the ground-truth blur field (``kernels``, ``mixing``) that oracle methods need
    gt_field: bool = False
    #: keyword arguments bound at registration (``variant="blur_gamma"``)
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @property
    def factory(self) -> Callable[..., object]:
        return bind(self.target, self.fixed, self.name)


_DATASETS: dict[tuple[str, str], DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    return register_once(_DATASETS, (spec.suite, spec.name), spec, f"dataset {spec.suite}/{spec.name}")


def _ensure_loaded() -> None:
    # breaks a real cycle: the table registers through this module (it is light: names and metadata only)
    import blurbench.datamodules.datasets  # noqa: F401


def suites() -> list[str]:
    _ensure_loaded()
    return sorted({s for s, _ in _DATASETS})


def datasets(suite: str) -> list[DatasetSpec]:
    _ensure_loaded()
    found = [spec for (s, _), spec in sorted(_DATASETS.items()) if s == suite]
    if not found:
        raise ConfigError(f"unknown suite '{suite}'", f"choose one of: {', '.join(suites())}")
    return found


def get_dataset(suite: str, name: str) -> DatasetSpec:
    for spec in datasets(suite):
        if spec.name == name:
            return spec
    names = ", ".join(s.name for s in datasets(suite))
    raise ConfigError(f"unknown dataset '{name}' in suite '{suite}'", f"choose from: {names}")


def build_datamodule(spec: DatasetSpec, data_root: str | Path | None = None, **kwargs: Any) -> object:
    if spec.needs_root and data_root is None:
        from blurbench.datamodules.catalog import download_hint  # breaks a real cycle: catalog imports this module

        raise ConfigError(f"dataset {spec.suite}/{spec.name} reads files from disk",
                          download_hint(spec.suite, spec.name))
    return spec.factory(data_root, **kwargs)
