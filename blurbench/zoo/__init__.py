"""The blurbench model zoo: registry, verified weight loading, conversion and publishing.

:func:`load` is the one weight path: zoo names, ``hf-hub:`` repos, our directories, training checkpoints and
official files (see :mod:`blurbench.zoo.sources`).

>>> from blurbench.zoo import list_models
>>> "carbajal2021" in list_models()
True
"""

from blurbench.zoo.hub import convert, load_hub_repo, load_local, pull, push, save_local
from blurbench.zoo.registry import (
    ModelSpec,
    WeightSource,
    build_arch,
    get_model_spec,
    list_models,
    register_model,
)
from blurbench.zoo.sources import describe, is_model_source, load

__all__ = [
    "ModelSpec",
    "WeightSource",
    "build_arch",
    "convert",
    "describe",
    "get_model_spec",
    "is_model_source",
    "list_models",
    "load",
    "load_hub_repo",
    "load_local",
    "pull",
    "push",
    "register_model",
    "save_local",
]
