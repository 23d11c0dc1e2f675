"""Names ``blurbench data check`` and ``data download`` understand, beside the evaluation registry.

Each on-disk dataset module registers, at import, a *checker* per name — a factory ``root -> datamodule``
whose ``check_all()`` returns ``({split: count}, problems)`` — and its download recipe
(:func:`blurbench.datamodules.download.register_download`). Names are the family (``gopro``, ``realblur``)
and each evaluation dataset (``gopro-gamma``, ``realblur-r``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from blurbench.errors import ConfigError


@dataclass(frozen=True)
class Checker:
    name: str
    factory: Callable[..., object]
    description: str = ""


_CHECKERS: dict[str, Checker] = {}


def register_checker(name: str, factory: Callable[..., object], description: str = "") -> None:
    if name in _CHECKERS:
        raise ValueError(f"dataset checker {name} is registered twice")
    _CHECKERS[name] = Checker(name, factory, description)


def checkers() -> dict[str, Checker]:
    from blurbench.datamodules.registry import _ensure_loaded

    _ensure_loaded()
    return dict(_CHECKERS)


def get_checker(name: str) -> Checker:
    found = checkers()
    if name not in found:
        raise ConfigError(f"no checker for dataset '{name}'", f"choose one of: builtin, {', '.join(sorted(found))}")
    return found[name]


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


def register_combined(name: str, parts: dict[str, Callable[..., object]], description: str = "") -> None:
    """A checker for a family made of several datasets (``parts``: prefix -> factory(root))."""
    register_checker(name, lambda root, **kw: CombinedCheck({k: f(root, **kw) for k, f in parts.items()}),
                     description)


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
    from blurbench.datamodules.download import downloads

    checkers()  # registers the downloads too
    for candidate in (name, suite):
        if candidate in downloads():
            return f"pass --data-root PATH (get it with `blurbench data download {candidate} --root PATH`)"
    return "pass --data-root PATH (the folder holding the dataset; `blurbench data list` describes each)"
