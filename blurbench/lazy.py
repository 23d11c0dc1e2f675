"""``"module:attr"`` references: registries name what they build and import it on use.

Listing commands (``blurbench methods``, ``data list``) read names and metadata only, so they never import torch
or Lightning; the class or factory is imported when something is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")

__all__ = ["Target", "load_target", "register_once", "target_name"]

#: a callable, or ``"package.module:attr"`` naming one (imported by :func:`load_target`)
Target = Callable[..., Any] | str


def load_target(target: Target) -> Callable[..., Any]:
    """The callable itself, or the object a ``"module:attr"`` string names (imported now)."""
    if not isinstance(target, str):
        return target
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"'{target}' is not a 'package.module:attr' reference")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def target_name(target: Target) -> str:
    """``module.qualname`` of a target, without importing a string one (provenance hashes use it)."""
    if isinstance(target, str):
        return target.replace(":", ".", 1)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


def register_once(table: dict[Any, _T], key: Any, item: _T, what: str) -> _T:
    """Add ``item`` to a registry ``table`` under ``key``; a second registration of a key is a programming error
    (two modules claiming one name), raised as ``ValueError("<what> is registered twice")``."""
    if key in table:
        raise ValueError(f"{what} is registered twice")
    table[key] = item
    return item
