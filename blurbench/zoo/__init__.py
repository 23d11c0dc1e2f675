"""The blurbench model zoo: registry, verified weight loading, conversion and publishing.

>>> from blurbench.zoo import list_models
>>> "carbajal2021" in list_models()
True
"""

from blurbench.zoo.hub import convert, load, load_hub_repo, load_local, pull, push, save_local
from blurbench.zoo.registry import (
    ModelSpec,
    WeightSource,
    build_arch,
    export_shipped_weights,
    get_model_spec,
    list_models,
    register_model,
)

__all__ = [
    "ModelSpec",
    "WeightSource",
    "build_arch",
    "convert",
    "export_shipped_weights",
    "get_model_spec",
    "list_models",
    "load",
    "load_hub_repo",
    "load_local",
    "pull",
    "push",
    "register_model",
    "save_local",
]
