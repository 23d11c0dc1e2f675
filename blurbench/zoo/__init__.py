"""The blurbench model zoo: registry, verified weight loading, conversion and publishing.

:func:`load` is the one weight path: zoo names, ``hf-hub:`` repos, our directories, training checkpoints and
official files (see :mod:`blurbench.zoo.sources`). Names are imported on first use, so that the command line's
help and listings start without importing torch.

>>> from blurbench.zoo import list_models
>>> "carbajal2021" in list_models()
True
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "convert": "hub", "load_hub_repo": "hub", "load_local": "hub", "pull": "hub", "push": "hub", "save_local": "hub",
    "ModelSpec": "registry", "WeightSource": "registry", "build_arch": "registry", "get_model_spec": "registry",
    "list_models": "registry", "register_model": "registry",
    "describe": "sources", "is_model_source": "sources", "load": "sources",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"blurbench.zoo.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'blurbench.zoo' has no attribute {name!r}")
