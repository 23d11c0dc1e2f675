"""Names ``blurbench data check`` and ``data download`` understand, beside the evaluation registry.

Each name has a *checker* — a factory ``root -> datamodule`` whose ``check_all()`` returns
``({split: count}, problems)`` — registered lazily (``"module:attr"`` targets) in
:mod:`blurbench.datamodules.datasets`. Names are the family (``gopro``, ``realblur``) and each evaluation dataset
(``gopro-gamma``, ``realblur-r``). Download recipes are registered by the dataset modules themselves
(:func:`blurbench.datamodules.download.register_download`), so they are read after :func:`import_dataset_modules`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from blurbench.datamodules.registry import _DATASETS, _ensure_loaded, bind
from blurbench.errors import ConfigError
from blurbench.lazy import Target, load_target, register_once


@dataclass(frozen=True)
class Checker:
    """``data check NAME``: one datamodule (``target`` + ``fixed``, built under ``name``), or a family made of
    several (``parts``: prefix -> (target, fixed), checked as one, splits reported as ``<prefix>/<split>``)."""

    name: str
    target: Target | None
    description: str = ""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    parts: Mapping[str, tuple[Target, Mapping[str, Any]]] = field(default_factory=dict)

    @property
    def factory(self) -> Callable[..., object]:
        if self.parts:
            parts = {prefix: bind(target, fixed) for prefix, (target, fixed) in self.parts.items()}
            return lambda root, **kw: CombinedCheck({k: f(root, **kw) for k, f in parts.items()})
        assert self.target is not None
        return bind(self.target, self.fixed, self.name)


_CHECKERS: dict[str, Checker] = {}


def register_checker(checker: Checker) -> Checker:
    return register_once(_CHECKERS, checker.name, checker, f"dataset checker {checker.name}")


def checkers() -> dict[str, Checker]:
    _ensure_loaded()
    return dict(_CHECKERS)


def get_checker(name: str) -> Checker:
    found = checkers()
    if name not in found:
        raise ConfigError(f"no checker for dataset '{name}'", f"choose one of: builtin, {', '.join(sorted(found))}")
    return found[name]


def import_dataset_modules() -> None:
    """Import every module a dataset or a checker refers to: they register their download recipes and built-in
    generators at import (``data download``, ``data prepare``)."""
    targets = [spec.target for spec in _DATASETS.values()]
    for checker in checkers().values():
        targets += [*([checker.target] if checker.target is not None else []), *(t for t, _ in checker.parts.values())]
    for target in targets:
        load_target(target)


class CombinedCheck:
    """Checks several datamodules as one dataset: splits are reported as ``<part>/<split>``."""

    def __init__(self, parts: dict[str, object]) -> None:
        self.parts = parts

    def check_all(self) -> tuple[dict[str, int], list[str]]:
        counts: dict[str, int] = {}
        problems: list[str] = []
        for prefix, dm in self.parts.items():
            c, p = dm.check_all()
            counts.update({f"{prefix}/{k}": v for k, v in c.items()})
            problems += [x for x in p if x not in problems]
        return counts, problems


def check_hint(name: str, root: object = None) -> str:
    """A fix that runs: ``blurbench data check NAME --root ROOT`` where NAME has a checker and the root is known,
    otherwise the plain fix (every command a hint names must exist: tests/test_failures.py runs them)."""
    if name == "builtin":
        return "run `blurbench data check builtin` (then `blurbench data prepare builtin --force` to regenerate)"
    if root is not None and name in checkers():
        return f"run `blurbench data check {name} --root {root}` for the full list"
    return "fix or replace that file"


def download_hint(suite: str, name: str) -> str:
    """Where a dataset that reads from disk comes from: its download command when there is one."""
    # deferred: blurbench.io imports torch (and download.py imports this catalog)
    from blurbench.datamodules.download import downloads

    for candidate in (name, suite):
        if candidate in downloads():
            return f"pass --data-root PATH (get it with `blurbench data download {candidate} --root PATH`)"
    return "pass --data-root PATH (the folder holding the dataset; `blurbench data list` describes each)"
