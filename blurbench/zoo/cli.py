"""``blurbench zoo``: list, pull, convert and publish pretrained models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from blurbench.errors import ConfigError
from blurbench.presets import resolve_config
from blurbench.zoo.registry import get_model_spec, list_models

_EPILOG = """\
weights are checked against the registry's sha256 before use; a file that fails is refused and removed from the
cache. Entries without a known sha256 need --sha256 HEX or --allow-unverified. Hub files go through
huggingface_hub (its cache, HF_ENDPOINT, HF_HUB_OFFLINE, HF_TOKEN); other files through <cache>/zoo/NAME/.

examples:
  blurbench zoo list
  blurbench zoo pull carbajal2021
  blurbench zoo pull deblurganv2-fpn-mobilenet --local-file fpn_mobilenet.h5 --allow-unverified
  blurbench zoo convert drunet-color --checkpoint drunet_color.pth --out out/drunet-color
  blurbench zoo convert --arch BlurFieldNet --arg base_width=10 --checkpoint weights.pth --out out/mine
  blurbench zoo export runs/deblurgan/gopro_reblur/checkpoints/last.ckpt --out out/mine --recipe deblurgan/gopro_reblur
  blurbench zoo push out/mine --repo-id me/blurfield-mine --results runs/builtin/leaderboard.json
  blurbench zoo results me/blurfield-mine
"""


def _kv(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def cmd_list(args: argparse.Namespace) -> int:
    specs = [get_model_spec(n) for n in list_models(args.pattern, pretrained=args.pretrained)]
    if args.json:
        print(json.dumps([s.to_dict() for s in specs], indent=2))
        return 0
    header = ["name", "task", "arch", "weights", "sha256", "size", "licence"]
    rows = []
    for s in specs:
        w = s.weights
        if w is None:
            loc, sha, size = "none", "–", "–"
        else:
            loc = w.location() if w.kind != "none" else "none (see notes)"
            sha = w.sha256[:12] if w.sha256 else {"package": "missing", "none": "–"}.get(w.kind, "UNVERIFIED")
            size = _size(w.size) if w.kind != "none" else "–"
        rows.append([s.name, s.task, s.arch, loc, sha, size, s.license.split(" (")[0]])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    notes = [(s.name, s.weights.note) for s in specs if s.weights and s.weights.note]
    if notes:
        print("\nnotes:")
        for name, note in notes:
            print(f"  {name}: {note}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from blurbench.zoo.hub import HUB_PREFIX, pull  # deferred: torch (zoo list stays fast)
    from blurbench.zoo.sources import load  # deferred: torch (zoo list stays fast)

    if args.name.startswith(HUB_PREFIX):
        model = load(args.name, revision=args.revision)
        print(f"{args.name}: loaded (model.safetensors sha256 {model.weights_sha256})")
        return 0
    path, digest = pull(args.name, sha256=args.sha256, allow_unverified=args.allow_unverified,
                        local_file=args.local_file, revision=args.revision)
    if not args.no_load:  # prove the file converts and loads strictly
        load(args.name, sha256=args.sha256, allow_unverified=args.allow_unverified, revision=args.revision)
    print(f"{args.name}: {path} (sha256 {digest}){'' if args.no_load else ', loads strictly'}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from blurbench.zoo.hub import convert  # deferred: torch (zoo list stays fast)

    out = convert(args.name, args.checkpoint, args.out, arch=args.arch, ctor_args=dict(args.arg or []),
                  prefix=args.prefix, model_name=args.model_name)
    print(f"wrote {out}/model.safetensors, config.json, README.md")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from blurbench.zoo.hub import convert  # deferred: torch (zoo list stays fast)

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise ConfigError(f"{out}: exists and is not a model directory", "pass a new or empty --out directory")
    recipe: dict[str, Any] = {}
    if args.recipe:
        recipe = {"config": args.recipe, "config_text": Path(resolve_config(args.recipe)).read_text(),
                  "command": f"blurbench fit --config {args.recipe} && blurbench zoo export {args.checkpoint} "
                             f"--out {args.out}" + (f" --name {args.name}" if args.name else "")
                             + f" --recipe {args.recipe}"}
    convert(None, args.checkpoint, out, model_name=args.name, recipe=recipe)
    print(f"wrote {out}/model.safetensors, config.json, README.md (evaluate it: blurbench evaluate --methods {out})")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from blurbench.zoo.hub import push  # deferred: torch (zoo list stays fast)

    url = push(args.directory, args.repo_id, results=args.results, method=args.method, private=args.private or None,
               token=args.token)
    print(f"pushed {args.directory} to {args.repo_id}: {url}")
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from blurbench.leaderboard.publish import render_from_cards  # deferred: torch and Lightning

    print(render_from_cards(args.sources, args.out))
    return 0


def add_zoo_parser(subparsers) -> argparse.ArgumentParser:
    zo = subparsers.add_parser("zoo", help="list, pull, convert and publish pretrained models",
                               description="Model zoo: weights on the Hugging Face Hub (or official URLs), verified by "
                                           "sha256, converted in memory, loaded strictly.",
                               epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    zo.set_defaults(func=lambda args: zo.print_help() or 0)
    sub = zo.add_subparsers(dest="zoo_command", metavar="SUBCOMMAND")

    ls = sub.add_parser("list", help="every model, its weight source, sha256, size and licence",
                        description="List the zoo (UNVERIFIED = no known sha256: loading needs --sha256 or "
                                    "--allow-unverified).")
    ls.add_argument("pattern", nargs="?", default="*", help="shell pattern on names (default: all)")
    ls.add_argument("--pretrained", action="store_true", help="only models with downloadable weights")
    ls.add_argument("--json", action="store_true", help="print the full entries as JSON")
    ls.set_defaults(func=cmd_list)

    pl = sub.add_parser("pull", help="download and verify weights (then check they load strictly)",
                        description="Fetch NAME's weights into the cache and verify their sha256. Offline "
                                    "(HF_HUB_OFFLINE=1) a warm cache works; a cold one says what to download and "
                                    "where. NAME may also be hf-hub:ORG/REPO[@REV] (a repo in our format).")
    pl.add_argument("name", help="zoo model name (see `blurbench zoo list`) or hf-hub:ORG/REPO")
    pl.add_argument("--local-file", default=None, help="use this downloaded file (verified, copied to the cache)")
    pl.add_argument("--sha256", default=None, help="expected sha256 (required for entries marked UNVERIFIED)")
    pl.add_argument("--allow-unverified", action="store_true", help="accept a file with no known sha256")
    pl.add_argument("--revision", default=None, help="Hub revision (default: the registry's pinned commit)")
    pl.add_argument("--no-load", action="store_true", help="only download and verify")
    pl.set_defaults(func=cmd_pull)

    cv = sub.add_parser("convert", help="official file or `blurbench fit` .ckpt -> our format",
                        description="Write DIR/model.safetensors, config.json (arch, constructor args, input "
                                    "convention, source sha256) and README.md. Checkpoints are read with "
                                    "torch.load(weights_only=True); Lightning .ckpt module prefixes (net., "
                                    "generator.) are stripped automatically or with --prefix.")
    cv.add_argument("name", nargs="?", default=None, help="zoo model name (gives arch, converter and metadata)")
    cv.add_argument("--checkpoint", required=True, help="official weights file, state dict or Lightning .ckpt")
    cv.add_argument("--out", required=True, help="output directory")
    cv.add_argument("--arch", default=None, help="architecture (e.g. BlurFieldNet) when it differs from NAME's")
    cv.add_argument("--arg", type=_kv, action="append", metavar="KEY=VALUE",
                    help="constructor argument (JSON value), repeatable, e.g. --arg base_width=10")
    cv.add_argument("--prefix", default=None, help="keep keys under this prefix and strip it (e.g. 'net.')")
    cv.add_argument("--model-name", default=None, help="name recorded in config.json and the card")
    cv.set_defaults(func=cmd_convert)

    ex = sub.add_parser("export", help="the network of a `blurbench fit` checkpoint -> our format (+ its recipe)",
                        description="Write DIR/model.safetensors, config.json and README.md from a training "
                                    "checkpoint (.ckpt): the network the task recorded (DeblurGAN generator, "
                                    "blur-field network), its task and input range, and the recipe it was trained "
                                    "with. DIR is "
                                    "then a method (`evaluate --methods DIR`), an init_from/blurfield source, and "
                                    "what `zoo push` uploads.")
    ex.add_argument("checkpoint", help="a .ckpt written by `blurbench fit`")
    ex.add_argument("--out", required=True, help="output directory (never inside the installed package unless you "
                                                 "name it)")
    ex.add_argument("--name", default=None, help="model name recorded in config.json (default: the file stem)")
    ex.add_argument("--recipe", default=None, help="the config it was trained with (path or preset), recorded")
    ex.set_defaults(func=cmd_export)

    ps = sub.add_parser("push", help="upload a converted directory to the Hub with results in its model card",
                        description="create_repo + upload_folder. With --results, the card's model-index carries "
                                    "the measured results of --method (default: the config's name) from a blurbench "
                                    "leaderboard.json, so they show on the Hub.")
    ps.add_argument("directory", help="a directory written by `blurbench zoo convert`")
    ps.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub")
    ps.add_argument("--results", default=None, help="a blurbench leaderboard.json")
    ps.add_argument("--method", default=None, help="method name of this model in the leaderboard")
    ps.add_argument("--private", action="store_true", help="create the repo private")
    ps.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the stored login)")
    ps.set_defaults(func=cmd_push)

    rs = sub.add_parser("results", help="read results back from model cards into a leaderboard",
                        description="Leaderboard entries (source 'model card') from the model-index of README.md "
                                    "files, folders or Hub repos.")
    rs.add_argument("sources", nargs="+", help="README.md, folder, or ORG/REPO")
    rs.add_argument("--out", default=None, help="write leaderboard.{md,csv,json} here")
    rs.set_defaults(func=cmd_results)
    return zo


__all__ = ["add_zoo_parser"]
