"""Evaluation wrappers for generators shipped in ``blurbench/zoo/weights/``, and the export step of the recipes.

:class:`ShippedGenerator` loads ``<stem>.safetensors`` with its sidecar ``<stem>.json`` (sha256 and size
checked, architecture and constructor arguments from the sidecar, strict key match) and restores images:
input [0, 1] → generator in [-1, 1] → output [0, 1]; eval mode (dropout off: deterministic).

Export (the second half of every ``configs/deblurgan`` recipe)::

    python -m blurbench.tasks.gan_methods export CKPT STEM --recipe deblurgan/small_cpu [--out DIR]

writes the generator of a :class:`~blurbench.tasks.deblurgan.DeblurGANTraining` checkpoint as
``STEM.safetensors`` + ``STEM.json`` (the recipe config, the command and the checkpoint's step/epoch).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from blurbench.errors import BlurbenchError, DataError
from blurbench.tasks.base import ImageRestorationTask
from blurbench.tasks.deblurgan import from_gan_range, to_gan_range

__all__ = ["ShippedGenerator", "export_generator", "is_shipped", "load_shipped_generator"]


def is_shipped(stem: str) -> bool:
    """Whether ``blurbench/zoo/weights/<stem>.json`` (the sidecar of a shipped file) exists."""
    from blurbench.zoo.registry import shipped_weights_dir

    return (shipped_weights_dir() / f"{stem}.json").is_file()


def load_shipped_generator(stem: str, directory: str | Path | None = None) -> tuple[torch.nn.Module, str]:
    """(generator in eval mode, sha256) from ``<directory>/<stem>.safetensors`` (default: the package's weights)."""
    from safetensors.torch import load_file

    from blurbench.io import sha256_file
    from blurbench.zoo.hub import load_state_dict_strict
    from blurbench.zoo.registry import build_arch, read_sidecar, shipped_weights_dir

    directory = Path(directory or shipped_weights_dir())
    side = read_sidecar(stem, directory)
    path = directory / side["file"]
    fix = f"re-run the recipe named in {stem}.json and its export step"
    if not path.is_file():
        raise DataError(f"{path}: weights missing", fix)
    if path.stat().st_size != side["size"] or sha256_file(path) != side["sha256"]:
        raise DataError(f"{path}: size/sha256 differ from {stem}.json", fix)
    net = build_arch(side["arch"], side.get("ctor_args") or {})
    load_state_dict_strict(net, load_file(str(path)), str(path))
    return net.eval(), side["sha256"]


class ShippedGenerator(ImageRestorationTask):
    """A deblurring generator shipped with the package (``weights`` = file stem, e.g. ``deblurgan_small``)."""

    def __init__(self, weights: str, directory: str | None = None) -> None:
        super().__init__()
        self.generator, self._sha256 = load_shipped_generator(weights, directory)

    def weights_sha256(self) -> str | None:
        return self._sha256

    def restore(self, batch: dict[str, Any]) -> Tensor:
        return from_gan_range(self.generator(to_gan_range(batch["blurry"])))


def export_generator(checkpoint: str | Path, stem: str, recipe: str, out_dir: str | Path | None = None) -> Path:
    """Write the generator of a training checkpoint as ``<out_dir>/<stem>.safetensors`` + sidecar; returns the file."""
    from blurbench.cli import resolve_config
    from blurbench.tasks.deblurgan import load_generator_state
    from blurbench.zoo.hub import load_state_dict_strict
    from blurbench.zoo.registry import build_arch, export_shipped_weights

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise DataError(f"{checkpoint}: checkpoint not found", f"run `blurbench fit --config {recipe}` first")
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    hp = ckpt.get("hyper_parameters", {})
    arch, args = hp.get("generator_arch", "DeblurGANGenerator"), dict(hp.get("generator_args") or {})
    net = build_arch(arch, args)
    gen, _ = load_generator_state(str(checkpoint), net)
    load_state_dict_strict(net, gen, str(checkpoint))
    config_path = Path(resolve_config(recipe))
    info = {
        "config": recipe, "config_text": config_path.read_text(),
        "command": f"blurbench fit --config {recipe} && python -m blurbench.tasks.gan_methods export "
                   f"{checkpoint} {stem} --recipe {recipe}",
        "epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step"),
        "task": type_name(hp), "hyper_parameters": {k: v for k, v in hp.items() if not k.startswith("_")},
    }
    return export_shipped_weights(net, stem, out_dir, recipe=info, arch=arch, ctor_args=args)


def type_name(hp: dict[str, Any]) -> str:
    return "ReblurFinetune" if "reblur_weight" in hp else "DeblurGANTraining"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blurbench.tasks.gan_methods")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="export a training checkpoint's generator into blurbench/zoo/weights")
    ex.add_argument("checkpoint")
    ex.add_argument("stem", help="file stem, e.g. deblurgan_small")
    ex.add_argument("--recipe", required=True, help="the config it was trained with (path or preset)")
    ex.add_argument("--out", default=None, help="output folder (default: the package's zoo/weights)")
    args = parser.parse_args(argv)
    try:
        path = export_generator(args.checkpoint, args.stem, args.recipe, args.out)
    except BlurbenchError as err:
        print(f"blurbench: error: {err}", file=sys.stderr)
        return 2
    print(f"Wrote {path} and {path.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
