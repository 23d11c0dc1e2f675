"""Where zoo weights live on this machine and how the Hub is reached: no torch (listing commands stay fast)."""

from __future__ import annotations

from pathlib import Path

from blurbench.cache import cache_dir
from blurbench.hub import _DEFAULT_ENDPOINT as DEFAULT_ENDPOINT
from blurbench.hub import hub_cache_dir, hub_endpoint, hub_offline
from blurbench.zoo.registry import get_model_spec, shipped_weights_dir

__all__ = ["DEFAULT_ENDPOINT", "hub_cache_dir", "hub_endpoint", "hub_offline", "weights_on_disk", "zoo_cache_dir"]

def zoo_cache_dir() -> Path:
    """``<blurbench cache>/zoo``: manual copies (``--local-file``) and non-Hub downloads."""
    return cache_dir() / "zoo"


def weights_on_disk(name: str) -> bool:
    """Whether zoo model ``name``'s weights are on this machine (shipped, copied to the zoo cache, or in the Hub
    cache), checked without any network access so that listing and planning stay offline and fast."""
    spec = get_model_spec(name)
    w = spec.weights
    if w is None or not w.filename:
        return False
    if w.kind == "package":
        return (shipped_weights_dir() / w.filename / "model.safetensors").is_file()
    if (zoo_cache_dir() / spec.name / w.filename).is_file():
        return True
    if w.kind == "hub" and w.repo_id:
        from huggingface_hub import try_to_load_from_cache  # deferred: only the Hub paths need it

        found = try_to_load_from_cache(w.repo_id, w.filename, cache_dir=hub_cache_dir(), revision=w.revision)
        return isinstance(found, str)
    return False
