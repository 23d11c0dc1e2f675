"""Config presets: the YAML recipes of ``configs/``, shipped in the package as the resource ``blurbench.configs``.

The repository keeps ``configs/`` at the top level (what users browse); the build maps it to the package
``blurbench.configs`` (``pyproject.toml``), so an installed wheel finds the same presets by name.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from blurbench.errors import ConfigError

__all__ = ["configs_dir", "list_presets", "resolve_config"]


def configs_dir() -> Path:
    """The presets folder: ``configs/`` of a checkout or editable install, ``blurbench/configs`` in a wheel."""
    return Path(str(resources.files("blurbench.configs")))


def list_presets() -> list[str]:
    """Preset names (``blurfield/small_cpu``, ...), sorted."""
    root = configs_dir()
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def resolve_config(value: str) -> str:
    """A YAML path as given, or a preset name (``blurfield/small_cpu``) resolved under :func:`configs_dir`."""
    if Path(value).is_file():
        return value
    for candidate in (configs_dir() / value, configs_dir() / f"{value}.yaml"):
        if candidate.is_file():
            return str(candidate)
    raise ConfigError(f"config '{value}' is neither a file nor a preset",
                      f"presets: {', '.join(list_presets()) or 'none'}")
