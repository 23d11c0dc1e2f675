"""The package's layer order, checked on every import of every module (function-local ones included).

ops <- metrics <- datamodules / zoo <- tasks <- leaderboard <- evaluation <- cli: a module imports its own layer
(same package) or lower ones, never a higher one nor a sibling package of its layer. A function-local import must
say why it is not at the top (a comment on its line or just above its group: it defers a heavy import or breaks a
real cycle). And only :mod:`blurbench.zoo` reads network weights (``torch.load``, ``load_state_dict``, URL/hub
loaders, ``pretrained=True``): everything else goes through ``blurbench.zoo.load``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "blurbench"

#: top-level name under blurbench -> layer; 0 holds the helpers every layer may use (errors, io, cache, ...)
LAYERS = {
    "errors": 0, "lazy": 0, "cache": 0, "io": 0, "downloads": 0, "procmem": 0, "presets": 0, "results": 0,
    "failures": 0, "hub": 0,
    "ops": 1,
    "metrics": 2,
    "datamodules": 3, "zoo": 3,
    "tasks": 4,
    "leaderboard": 5,
    "evaluation": 6, "prediction": 6,
    "cli": 7, "__main__": 7, "launch": 7, "regenerate": 7, "": 7,  # "": blurbench/__init__.py (blurbench.evaluate)
}
CLI = 7


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> tuple[str, int]:
    """(package, layer) of ``blurbench.X[.Y]``; a subpackage's ``cli`` module is part of the command line."""
    parts = module.split(".")
    if parts[-1] == "cli":
        return "cli", CLI
    top = parts[1] if len(parts) > 1 else ""
    if top not in LAYERS:
        raise AssertionError(f"{module}: give blurbench.{top} a layer in tests/test_layers.py")
    return top, LAYERS[top]


def _imports(tree: ast.Module) -> list[tuple[ast.stmt, list[str], bool]]:
    """Every import statement: (node, blurbench modules it names, inside a function)."""
    local = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"line {node.lineno}: relative import (the project imports absolutely)"
            names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        out.append((node, [n for n in names if n == "blurbench" or n.startswith("blurbench.")], id(node) in local))
    return out


def _has_reason(lines: list[str], node: ast.stmt) -> bool:
    """A ``#`` comment on the statement's lines, or on the line above its group of consecutive imports."""
    if any("#" in line for line in lines[node.lineno - 1:node.end_lineno]):
        return True
    i = node.lineno - 2
    while i >= 0 and lines[i].strip().startswith(("import ", "from ")):
        i -= 1
    return i >= 0 and lines[i].strip().startswith("#")


MODULES = sorted(PACKAGE.rglob("*.py"))


def violations(module: str, source: str) -> list[str]:
    """Imports of ``module`` (its ``source``) that go up the layer order or sideways, and unexplained local ones."""
    lines = source.splitlines()
    package, rank = layer_of(module)
    found = []
    for node, names, local in _imports(ast.parse(source)):
        for name in names:
            # the package itself as a target is its metadata (__version__); as a module it is the public façade
            other, other_rank = ("blurbench", 0) if name == "blurbench" else layer_of(name)
            if other_rank > rank or (other_rank == rank and other != package and rank not in (0, CLI)):
                found.append(f"{module}:{node.lineno} imports {name} ({other}, layer {other_rank}) from layer {rank}")
        if local and not _has_reason(lines, node):
            found.append(f"{module}:{node.lineno} function-local import without a reason comment "
                         f"(defers a heavy import? breaks a cycle? else move it to the top)")
    return found


# modules whose local imports may lack a reason for now (none left): the layer order still holds in them
REASON_PENDING: set[str] = set()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_follow_the_layer_order(path: Path) -> None:
    found = violations(_module_name(path), path.read_text())
    if _module_name(path) in REASON_PENDING:
        found = [v for v in found if "reason comment" not in v]
    assert not found, "\n".join(found)


def test_the_check_catches_upward_sideways_and_unexplained_imports() -> None:
    local = "def f():\n    from blurbench.tasks.registry import methods\n    return methods\n"
    found = violations("blurbench.ops.probe", local)
    assert any("imports blurbench.tasks.registry" in v for v in found)
    assert any("without a reason comment" in v for v in found)
    explained = local.replace("methods\n", "methods  # breaks a real cycle\n", 1)
    assert not any("reason comment" in v for v in violations("blurbench.ops.probe", explained))
    assert violations("blurbench.zoo.probe", "from blurbench.datamodules.registry import datasets\n")  # sideways
    assert not violations("blurbench.tasks.probe", "import blurbench.zoo.hub\nfrom blurbench.ops import dft\n")
    assert violations("blurbench.zoo.cli", "from blurbench.leaderboard import publish\n") == []  # cli layer


# ------------------------------------------------------------------------------------------ one weight path
#: calls that read network weights: only blurbench.zoo may make them (its loader verifies, converts, loads strictly)
WEIGHT_READERS = {"torch.load", "load_state_dict_from_url", "load_url", "download_url_to_file", "load_state_dict"}


def weight_reads(source: str) -> list[str]:
    """``line: call`` of every weight-reading call in ``source``: :data:`WEIGHT_READERS`, any ``torch.hub.*``,
    and a ``pretrained=True`` given to anything but the zoo's own ``load``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        last = name.rsplit(".", 1)[-1]
        if name in WEIGHT_READERS or last in WEIGHT_READERS - {"load"} or name.startswith("torch.hub."):
            found.append(f"{node.lineno}: {name}(...)")
        elif last != "load" and any(k.arg == "pretrained" and isinstance(k.value, ast.Constant) and k.value.value
                                    for k in node.keywords):
            found.append(f"{node.lineno}: {name}(pretrained=True)")
    return found


@pytest.mark.parametrize("path", [p for p in MODULES if p.parent.name != "zoo"], ids=lambda p: _module_name(p))
def test_only_the_zoo_loads_weights(path: Path) -> None:
    found = weight_reads(path.read_text())
    assert not found, f"{_module_name(path)} reads weights outside blurbench.zoo (add a zoo entry or use " \
                      f"blurbench.zoo.load / zoo.hub.load_state_dict_strict): " + "; ".join(found)


def test_the_weight_check_catches_direct_loads() -> None:
    assert weight_reads("import torch\nsd = torch.load(p, weights_only=True)\nnet.load_state_dict(sd)\n") == [
        "2: torch.load(...)", "3: net.load_state_dict(...)"]
    assert weight_reads("from torch.hub import load_state_dict_from_url as f\nload_state_dict_from_url(u)\n")
    assert weight_reads("import torchvision\nm = torchvision.models.vgg19(pretrained=True)\n")
    assert weight_reads("x = torch.hub.load('a/b', 'c')\n")
    assert not weight_reads("from blurbench.zoo import load\nnet = load('drunet-color', pretrained=True)\n")
    assert not weight_reads("from blurbench.zoo.hub import load_state_dict_strict\nload_state_dict_strict(m, s, w)\n")
