"""Registry of evaluation suites and their datasets (timm-style: explicit registration, loud duplicates)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from blurbench.errors import ConfigError


@dataclass(frozen=True)
class DatasetSpec:
    """How to build one evaluation dataset of a suite.

    ``factory(data_root, **kwargs)`` returns an :class:`EvaluationDataModule`; ``data_root`` is None for
    suites that make their own data (the built-in benchmark).
    """

    suite: str
    name: str
    kind: str
    factory: Callable[..., object]
    description: str = ""
    needs_root: bool = False
    #: samples carry the ground-truth blur field (``kernels``, ``mixing``) that oracle methods need
    gt_field: bool = False


_DATASETS: dict[tuple[str, str], DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    key = (spec.suite, spec.name)
    if key in _DATASETS:
        raise ValueError(f"dataset {spec.suite}/{spec.name} is registered twice")
    _DATASETS[key] = spec
    return spec


def _ensure_loaded() -> None:
    # Explicit imports, no folder scanning: each module registers its datasets at import.
    import blurbench.datamodules.builtin  # noqa: F401
    import blurbench.datamodules.builtin_detection  # noqa: F401
    import blurbench.datamodules.builtin_video  # noqa: F401
    import blurbench.datamodules.cuhk  # noqa: F401
    import blurbench.datamodules.folder  # noqa: F401
    import blurbench.datamodules.real  # noqa: F401
    from blurbench.datamodules import dvd, gopro, hfr, hide, kohler, lai, levin, realblur, reds, sintel, sources  # noqa: F401


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


def build_datamodule(spec: DatasetSpec, data_root: str | Path | None = None, **kwargs):
    if spec.needs_root and data_root is None:
        from blurbench.datamodules.catalog import download_hint

        raise ConfigError(f"dataset {spec.suite}/{spec.name} reads files from disk",
                          download_hint(spec.suite, spec.name))
    return spec.factory(data_root, **kwargs)
