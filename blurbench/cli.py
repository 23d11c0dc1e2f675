"""The ``blurbench`` command.

``fit``, ``validate``, ``test`` and ``predict`` are LightningCLI subcommands (``parser_mode="omegaconf"``;
``--config`` takes a YAML path or a preset name from ``configs/``). ``evaluate``, ``leaderboard``, ``data`` and
``zoo`` are blurbench's own. Errors in user input print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from blurbench.errors import BlurbenchError, ConfigError

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
REPO_ROOT = Path(__file__).resolve().parent.parent


def configs_dir() -> Path:
    return REPO_ROOT / "configs"


def resolve_config(value: str) -> str:
    """A YAML path as given, or a preset name (``blurfield/small_cpu``) resolved under ``configs/``."""
    if Path(value).is_file():
        return value
    for candidate in (configs_dir() / value, configs_dir() / f"{value}.yaml"):
        if candidate.is_file():
            return str(candidate)
    presets = sorted(str(p.relative_to(configs_dir()).with_suffix("")) for p in configs_dir().rglob("*.yaml"))
    raise ConfigError(f"config '{value}' is neither a file nor a preset", f"presets: {', '.join(presets) or 'none'}")


def _resolve_config_args(argv: list[str]) -> list[str]:
    out = list(argv)
    for i, arg in enumerate(out):
        if arg in ("--config", "-c") and i + 1 < len(out):
            out[i + 1] = resolve_config(out[i + 1])
        elif arg.startswith("--config="):
            out[i] = "--config=" + resolve_config(arg.split("=", 1)[1])
    return out


def run_lightning_cli(argv: list[str]) -> int:
    import lightning as L
    from lightning.pytorch.cli import LightningCLI

    # LightningCLI reads sys.argv itself (passing args= as well makes it warn); presets are resolved first.
    saved = sys.argv
    sys.argv = ["blurbench", *_resolve_config_args(argv)]
    try:
        LightningCLI(
            L.LightningModule, L.LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
            parser_kwargs={"parser_mode": "omegaconf"}, save_config_kwargs={"overwrite": True},
        )
    finally:
        sys.argv = saved
    return 0


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _devices(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def cmd_evaluate(args: argparse.Namespace) -> int:
    from blurbench.evaluation import default_out, evaluate
    from blurbench.leaderboard.table import render_markdown

    entries = evaluate(args.suite, _csv(args.methods), _csv(args.datasets), args.out, args.devices,
                       args.accelerator, args.num_nodes, args.limit, args.data_root, progress=not args.no_progress,
                       split=args.split)
    if entries:
        out = args.out or default_out(args.suite, args.split)
        print(render_markdown(entries, f"blurbench — {args.suite} suite"))
        print(f"Wrote {out}/results.jsonl and {out}/leaderboard.{{md,csv,json}}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from blurbench.leaderboard import publish

    if args.regenerate:
        markdown = publish.regenerate(args.out or "leaderboards", limit=args.limit)
    elif args.cards:
        from blurbench.zoo.cards import render_from_cards

        markdown = render_from_cards(args.cards, args.out)
    elif args.source:
        markdown = publish.render_from(args.source, args.out)
    else:
        raise ConfigError("nothing to render", "pass --from DIR (an evaluate output), --from-card, or --regenerate")
    print(markdown)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from blurbench.prediction import predict

    out = predict(args.method, args.input, args.output, args.devices, args.accelerator, not args.no_progress)
    print(f"Wrote predictions to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blurbench",
        description="Benchmarks and model zoo for motion-blur estimation and deblurring.",
        epilog="Start with `blurbench evaluate` (built-in benchmark, no download). "
               "`blurbench COMMAND --help` describes each command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in (("fit", "train a model (LightningCLI; --config PATH|PRESET)"),
                       ("validate", "validate a model (LightningCLI)"),
                       ("test", "test a model (LightningCLI)")):
        sub.add_parser(name, help=text, add_help=False)
    pr = sub.add_parser("predict", help="run a method on images or frames (or LightningCLI predict with --config)",
                        description="`blurbench predict --method NAME --input PATH --output DIR` runs a registered "
                                    "method on an image, a folder of images, or a folder of video frames (sorted by "
                                    "name) and writes its outputs under the same names. Without --method, this is "
                                    "LightningCLI's predict (--config PATH|PRESET; see `blurbench predict --config "
                                    "X --help`).")
    pr.add_argument("--method", required=True, help="a registered method (see README / `blurbench zoo list`)")
    pr.add_argument("--input", required=True, help="image file, folder of images, or folder of frames")
    pr.add_argument("--output", required=True, help="output folder")
    pr.add_argument("--devices", type=_devices, default=1)
    pr.add_argument("--accelerator", default="auto", choices=["auto", "cpu", "gpu", "cuda", "mps"])
    pr.add_argument("--no-progress", action="store_true")
    pr.set_defaults(func=cmd_predict)

    ev = sub.add_parser("evaluate", help="run methods over a suite into results.jsonl and leaderboard tables",
                        description="Evaluate registered methods on a suite's datasets (Trainer.test), write "
                                    "per-sample rows to DIR/results.jsonl and DIR/leaderboard.{md,csv,json}. "
                                    "Interrupted runs resume without recomputing finished samples.")
    ev.add_argument("--suite", default="builtin", help="suite name (default: builtin, generated locally)")
    ev.add_argument("--methods", default="default",
                    help="comma-separated method names, 'default' (every method but the slow video solvers; "
                         "a few minutes on 2 CPU cores) or 'all'")
    ev.add_argument("--datasets", default=None, help="comma-separated dataset names of the suite (default: all)")
    ev.add_argument("--out", default=None, help="output directory (default: runs/<suite>)")
    ev.add_argument("--devices", type=_devices, default=1, help="devices per node (int or 'auto'; >1 uses DDP)")
    ev.add_argument("--accelerator", default="auto", choices=["auto", "cpu", "gpu", "cuda", "mps"],
                    help="Lightning accelerator (default: auto)")
    ev.add_argument("--num-nodes", type=int, default=1, help="number of nodes (multi-node DDP, e.g. under SLURM)")
    ev.add_argument("--limit", type=int, default=None, help="evaluate only the first N samples of each dataset")
    ev.add_argument("--data-root", default=None, help="root of the dataset on disk (suites read from files)")
    ev.add_argument("--split", default=None,
                    help="split to score (default: each dataset's test split; 'val' for choosing anything)")
    ev.add_argument("--no-progress", action="store_true", help="hide progress bars")
    ev.set_defaults(func=cmd_evaluate)

    lb = sub.add_parser("leaderboard", help="render leaderboard tables from results",
                        description="Re-render leaderboard.{md,csv,json} from an evaluate output directory, or "
                                    "regenerate the committed leaderboards/ (and the README table) with one command.")
    lb.add_argument("--from", dest="source", default=None, help="evaluate output directory holding results.jsonl")
    lb.add_argument("--from-card", dest="cards", action="append", default=None, metavar="CARD",
                    help="read results from a model card's model-index (README.md path, folder, or Hub repo id); "
                         "repeatable")
    lb.add_argument("--out", default=None, help="where to write tables (default: the --from directory)")
    lb.add_argument("--regenerate", action="store_true",
                    help="re-run the built-in suite with every method and rewrite leaderboards/ and README.md")
    lb.add_argument("--limit", type=int, default=None, help="with --regenerate: first N samples only (testing)")
    lb.set_defaults(func=cmd_leaderboard)

    from blurbench.datamodules.cli import add_data_parser
    from blurbench.zoo.cli import add_zoo_parser

    add_data_parser(sub)
    add_zoo_parser(sub)
    return parser


def _quiet_lightning() -> None:
    """Keep evaluate/predict output to progress and results: no tips, no upstream deprecation noise."""
    import logging
    import warnings

    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in LIGHTNING_COMMANDS and not (argv[0] == "predict" and "--method" in argv):
            if argv[0] == "predict" and argv[1:] in (["--help"], ["-h"]):
                # Both forms of predict: ours (--method) first, then LightningCLI's own options.
                subparsers = build_parser()._subparsers._group_actions[0]  # type: ignore[union-attr]
                subparsers.choices["predict"].print_help()
                print("\nLightningCLI predict (with --config):\n")
            return run_lightning_cli(argv)
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command in ("evaluate", "predict", "leaderboard"):
            _quiet_lightning()
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        return args.func(args)
    except BlurbenchError as err:
        print(f"blurbench: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
