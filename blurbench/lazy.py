"""``"module:attr"`` references: registries name what they build and import it on use.

Listing commands (``blurbench methods``, ``data list``) read names and metadata only, so they never import torch
or Lightning; the class or factory is imported when something is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["Target", "load_target", "target_name"]

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
