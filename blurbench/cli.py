"""The ``blurbench`` command.

``fit``, ``validate``, ``test`` and ``predict`` are LightningCLI subcommands (``parser_mode="omegaconf"``;
``--config`` takes a YAML path or a preset name from ``configs/``). ``evaluate``, ``leaderboard``, ``data`` and
``zoo`` are blurbench's own. Errors in user input print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from blurbench.datamodules.cli import add_data_parser
from blurbench.errors import BlurbenchError, ConfigError
from blurbench.failures import Interrupted, check_accelerator, interruptible, known_fault_line
from blurbench.presets import resolve_config
from blurbench.tasks.registry import MODEL_FORMS, check_method_names, methods
from blurbench.zoo.cli import add_zoo_parser

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")


def _resolve_config_args(argv: list[str]) -> list[str]:
    out = list(argv)
    for i, arg in enumerate(out):
        if arg in ("--config", "-c") and i + 1 < len(out):
            out[i + 1] = resolve_config(out[i + 1])
        elif arg.startswith("--config="):
            out[i] = "--config=" + resolve_config(arg.split("=", 1)[1])
    return out


def run_lightning_cli(argv: list[str]) -> int:
    """``blurbench fit|validate|test|predict ARGS``: LightningCLI under every DDP launcher (blurbench.launch)."""
    from blurbench.launch import run_lightning_cli as run  # deferred: Lightning (help and listings stay fast)

    return run(_resolve_config_args(argv))


def _process_rank() -> int:
    """This process's global rank once Lightning (or torchrun/SLURM) set one, else 0."""
    rank_zero = sys.modules.get("lightning.fabric.utilities.rank_zero")
    return int(getattr(getattr(rank_zero, "rank_zero_only", None), "rank", 0) or 0)


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _devices(value: str) -> int | str:
    """``--devices``: a count >= 1, ``auto``, ``-1`` (all) or a list of device indices ``0,1``."""
    if value.isdigit() and int(value) >= 1:
        return int(value)
    if value in ("auto", "-1") or re.fullmatch(r"\d+(,\d+)+,?", value):
        return value
    raise argparse.ArgumentTypeError(f"'{value}' is not a device count (a number >= 1, 'auto', or indices like 0,1)")


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number >= 1")
    return number


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the problem and the help command), exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} — see `{self.prog} --help`\n")


def cmd_evaluate(args: argparse.Namespace) -> int:
    check_method_names(_csv(args.methods))  # a mistyped name stops here, before the imports below
    # deferred: evaluation and the tables import torch and Lightning (help and listings stay fast)
    from blurbench.evaluation import default_out, evaluate
    from blurbench.leaderboard.table import render_terminal

    if args.allow_subset:
        os.environ["BLURBENCH_ALLOW_SUBSET"] = "1"  # the environment reaches the DDP ranks too

    check_accelerator(args.accelerator)
    with interruptible():
        try:
            entries = evaluate(args.suite, _csv(args.methods), _csv(args.datasets), args.out, args.devices,
                               args.accelerator, args.num_nodes, args.limit, args.data_root,
                               progress=not args.no_progress, report_images=not args.no_report_images,
                               logger=args.logger, split=args.split)
        except Interrupted as stop:
            return _report_interrupted_evaluate(stop, Path(args.out or default_out(args.suite, args.split)))
    if entries:
        out = args.out or default_out(args.suite, args.split)
        print(render_terminal(entries))
        print(f"Wrote {out}/results.jsonl and {out}/leaderboard.{{md,csv,json,html}} (tables with provenance, "
              "intervals and costs; the HTML report is self-contained)")
    return 0


def _report_interrupted_evaluate(stop: Interrupted, out: Path) -> int:
    """One line: what is kept and how to go on; the conventional exit code (143 SIGTERM, 130 SIGINT)."""
    from blurbench.results import ResultsStore  # deferred: blurbench.io imports torch

    kept = len(ResultsStore(out).load()) if out.is_dir() else 0
    print(f"blurbench: interrupted by {stop}: {kept} row{'s' * (kept != 1)} kept in {out} — re-run the same "
          f"command to resume (finished samples are not recomputed)", file=sys.stderr)
    return stop.exit_code


def cmd_methods(args: argparse.Namespace) -> int:
    rows = []
    for m in sorted(methods(), key=lambda m: (m.task, m.name)):
        missing = m.missing_weights()
        needs = [*(["GT blur field"] if m.uses_gt_field else []), *(f"weights {w}" for w in m.needs_weights)]
        rows.append({"name": m.name, "task": m.task, "data_kind": m.data_kind, "needs": needs,
                     "runnable": not missing, "missing": [f"blurbench zoo pull {w}" for w in missing],
                     "in_default": m.in_default, "description": m.description})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ["name", "task", "data", "needs", "runnable here"]
    table = [[r["name"], r["task"], r["data_kind"], ", ".join(r["needs"]) or "–",
              "yes" if r["runnable"] else "no: " + "; ".join(r["missing"])] for r in rows]
    widths = [max(len(str(r[i])) for r in [header, *table]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *table]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"\n--methods (evaluate) and --method (predict) also take {MODEL_FORMS}.")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from blurbench.leaderboard import publish  # deferred: torch and Lightning

    if args.action == "push":
        from blurbench.leaderboard.sharing import push  # deferred: huggingface_hub and the tables

        url = push(args.directory, args.repo_id, private=args.private or None, token=args.token)
        print(f"pushed {args.directory} to the dataset repo {args.repo_id}: {url}")
        return 0
    if args.action == "merge":
        from blurbench.leaderboard.sharing import merge_runs, write_merged  # deferred: huggingface_hub and the tables

        merged = merge_runs(args.sources, prefer=args.prefer)
        for conflict in merged.conflicts:
            print(conflict.line())
        markdown = write_merged(merged, args.merge_out)  # refuses (exit 2) while a conflict is unresolved
        print(markdown)
        print(f"Merged {len(merged.rows)} rows from {len(merged.runs)} runs ({merged.duplicates} identical "
              f"duplicates dropped, {len(merged.conflicts)} conflicts settled by --prefer) into {args.merge_out}/"
              "results.jsonl, leaderboard.{md,csv,json,html}, merge.json")
        return 0
    if args.compare:
        return _print_comparisons(args)
    if args.regenerate:
        from blurbench.regenerate import regenerate  # deferred: torch and Lightning (a checkout-only command)

        markdown = regenerate(args.out or "leaderboards", limit=args.limit)
    elif args.cards:
        markdown = publish.render_from_cards(args.cards, args.out)
    elif args.source or args.html:
        markdown = publish.render_from(args.source or args.html, args.out, args.html)
    else:
        raise ConfigError("nothing to render", "pass --from DIR (an evaluate output), --from-card, or --regenerate")
    print(markdown)
    return 0


def _print_comparisons(args: argparse.Namespace) -> int:
    """``leaderboard --from DIR --compare A:B[,C:D]``: paired differences A − B with 95% bootstrap intervals."""
    from blurbench.leaderboard.bootstrap import DESCRIPTION, compare_pairs  # deferred: numpy
    from blurbench.results import ResultsStore  # deferred: blurbench.io imports torch

    if not args.source:
        raise ConfigError("--compare needs the run to read", "pass --from DIR (an evaluate output)")
    pairs = []
    for item in args.compare.split(","):
        a, sep, b = item.partition(":")
        if not sep or not a or not b:
            raise ConfigError(f"--compare {item!r} is not A:B", "write pairs as METHOD:OTHER[,METHOD:OTHER...]")
        pairs.append((a, b))
    source = Path(args.source)
    if not (source / "results.jsonl").is_file():
        raise ConfigError(f"{source}: no results.jsonl", "pass the output directory of `blurbench evaluate`")
    rows = ResultsStore(source).load()
    found = compare_pairs(rows, pairs)
    missing = [f"{a}:{b}" for a, b in pairs if not any(c["method"] == a and c["other"] == b for c in found)]
    if missing:
        raise ConfigError(f"{source}: no dataset holds both methods of {', '.join(missing)}",
                          "name methods as they appear in the run's leaderboard")
    print(f"paired differences ({DESCRIPTION})")
    for c in found:
        cells = []
        for metric, d in c.items():
            if isinstance(d, dict) and "diff" in d:
                ci = "" if d["lo"] is None else f" [{d['lo']:+.4g}, {d['hi']:+.4g}]{' tie' if d['tie'] else ''}"
                cells.append(f"{metric} {d['diff']:+.4g}{ci}")
        n = max(d["n"] for d in c.values() if isinstance(d, dict) and "n" in d)
        print(f"  {c['dataset']}: {c['method']} − {c['other']} (n {n}): " + "; ".join(cells))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from blurbench.prediction import predict  # deferred: torch and Lightning

    check_accelerator(args.accelerator)
    with interruptible():
        try:
            out = predict(args.method, args.input, args.output, args.devices, args.accelerator,
                          not args.no_progress)
        except Interrupted as stop:
            print(f"blurbench: interrupted by {stop}: every file in {args.output} is complete (written under a "
                  f"temporary name, then renamed) — re-run the same command to redo the rest", file=sys.stderr)
            return stop.exit_code
    print(f"Wrote predictions to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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
    pr.add_argument("--method", required=True,
                    help="a method: a registered name (`blurbench methods`) or a model (zoo name, hf-hub:ORG/NAME, "
                         "converted directory, .ckpt, @FILE.yaml)")
    pr.add_argument("--input", required=True, help="image file, folder of images, or folder of frames")
    pr.add_argument("--output", required=True, help="output folder")
    pr.add_argument("--devices", type=_devices, default=1, help="devices (a number >= 1, 'auto', or indices 0,1)")
    pr.add_argument("--accelerator", default="auto", choices=["auto", "cpu", "gpu", "cuda", "mps"])
    pr.add_argument("--no-progress", action="store_true")
    pr.set_defaults(func=cmd_predict)

    ev = sub.add_parser("evaluate", help="run methods over a suite into results.jsonl and leaderboard tables",
                        description="Evaluate registered methods on a suite's datasets (Trainer.test), write "
                                    "per-sample rows to DIR/results.jsonl and DIR/leaderboard.{md,csv,json}. "
                                    "Interrupted runs resume without recomputing finished samples.")
    ev.add_argument("--suite", default="builtin", help="suite name (default: builtin, generated locally)")
    ev.add_argument("--methods", default="default",
                    help="comma-separated methods, 'default' (every method but the slow video solvers; a few "
                         "minutes on 2 CPU cores) or 'all'; a method is a registered name (`blurbench methods`), a "
                         "zoo name, hf-hub:ORG/NAME, a converted/exported directory, a .ckpt, or @FILE.yaml")
    ev.add_argument("--datasets", default=None, help="comma-separated dataset names of the suite (default: all)")
    ev.add_argument("--out", default=None, help="output directory (default: runs/<suite>)")
    ev.add_argument("--devices", type=_devices, default=1, help="devices per node (int or 'auto'; >1 uses DDP)")
    ev.add_argument("--accelerator", default="auto", choices=["auto", "cpu", "gpu", "cuda", "mps"],
                    help="Lightning accelerator (default: auto)")
    ev.add_argument("--num-nodes", type=_positive_int, default=1,
                    help="number of nodes (multi-node DDP, e.g. under SLURM)")
    ev.add_argument("--limit", type=_positive_int, default=None,
                    help="evaluate only the first N samples of each dataset")
    ev.add_argument("--data-root", default=None, help="root of the dataset on disk (suites read from files)")
    ev.add_argument("--allow-subset", action="store_true",
                    help="accept a consistent subset of an on-disk split (labelled 'subset n/official')")
    ev.add_argument("--split", default=None,
                    help="split to score (default: each dataset's test split; 'val' for choosing anything)")
    ev.add_argument("--no-progress", action="store_true", help="hide progress bars (never drawn when stderr is not a "
                                                               "terminal)")
    ev.add_argument("--logger", default=None, choices=["tensorboard", "csv"],
                    help="also log per-method means with Lightning's logger under DIR (default: none)")
    ev.add_argument("--no-report-images", action="store_true",
                    help="do not keep pictures for leaderboard.html (big runs); tables and plots are still written")
    ev.set_defaults(func=cmd_evaluate)

    me = sub.add_parser("methods", help="list the registered methods: task, data, what they need, runnable here",
                        description="Every registered evaluation method. `--methods` also takes a zoo model name, "
                                    "hf-hub:ORG/NAME, a directory written by `blurbench zoo convert`/`export`, a "
                                    ".ckpt of `blurbench fit`, or @FILE.yaml (class_path + init_args of an evaluation "
                                    "task, or of an nn.Module with `task:`, optional `weights:` and `io_range:`).")
    me.add_argument("--json", action="store_true", help="print JSON")
    me.set_defaults(func=cmd_methods)

    lb = sub.add_parser("leaderboard", help="render leaderboard tables from results",
                        description="Re-render leaderboard.{md,csv,json} from an evaluate output directory, or "
                                    "regenerate the committed leaderboards/ (and the README table) with one command.")
    lb.add_argument("--from", dest="source", default=None, help="evaluate output directory holding results.jsonl")
    lb.add_argument("--from-card", dest="cards", action="append", default=None, metavar="CARD",
                    help="read results from a model card's model-index (README.md path, folder, or Hub repo id); "
                         "repeatable")
    lb.add_argument("--out", default=None, help="where to write tables (default: the --from directory)")
    lb.add_argument("--compare", default=None, metavar="A:B[,C:D]",
                    help="with --from: paired differences A − B (95%% bootstrap intervals over images), e.g. "
                         "deblurgan-small-resume:deblurgan-small")
    lb.add_argument("--regenerate", action="store_true",
                    help="re-run the built-in suite with every method and rewrite leaderboards/ and README.md")
    lb.add_argument("--limit", type=_positive_int, default=None,
                    help="with --regenerate: first N samples only (testing)")
    lb.add_argument("--html", default=None, metavar="DIR",
                    help="write the self-contained HTML report DIR/leaderboard.html (from --from, default DIR itself)")
    lb.set_defaults(func=cmd_leaderboard, action=None)
    lb_sub = lb.add_subparsers(dest="action", metavar="ACTION")
    lp = lb_sub.add_parser("push", help="upload a run's results, provenance, tables and report to a Hub dataset repo",
                           description="Upload DIR's results.jsonl, provenance.json, cost.json, "
                                       "leaderboard.{md,csv,json,html} and a dataset card to the Hub dataset repo "
                                       "ORG/NAME (created if new) in one commit. HF_ENDPOINT and HF_TOKEN are read.")
    lp.add_argument("directory", help="an evaluate output directory")
    lp.add_argument("--repo-id", required=True, help="ORG/NAME of the dataset repo")
    lp.add_argument("--private", action="store_true", help="create the repo private")
    lp.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the stored login)")
    lm = lb_sub.add_parser("merge", help="combine runs (directories or hf-hub:ORG/NAME[@REV]) into one leaderboard",
                           description="Combine the per-sample rows of several runs into one leaderboard. Each row "
                                       "keeps the run it came from. The same (method, dataset, split, id) in two "
                                       "runs is kept once when the metrics agree and is a conflict otherwise: "
                                       "conflicts are listed and, without --prefer, nothing is written (exit 2). "
                                       "Never averaged.")
    lm.add_argument("sources", nargs="+", metavar="SRC",
                    help="an evaluate output directory, or hf-hub:ORG/NAME[@REV] (a dataset repo of `leaderboard "
                         "push`)")
    lm.add_argument("--out", dest="merge_out", required=True, metavar="DIR",
                    help="directory for the merged leaderboard")
    lm.add_argument("--prefer", default=None, metavar="SRC",
                    help="the run that wins a conflict: one of the SRC as given, or first/last")

    add_data_parser(sub)
    add_zoo_parser(sub)
    return parser


def _quiet_lightning() -> None:
    """Keep evaluate/predict output to progress and results: no tips, no upstream deprecation noise."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    # "Received SIGTERM" is Lightning's; blurbench prints its own line saying what was kept
    logging.getLogger("lightning.pytorch.trainer.connectors.signal_connector").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")


def _no_adverts() -> None:
    """Drop Lightning's "💡 Tip: try installing ..." lines (third-party adverts) from every command's output."""
    class _Filter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not str(record.msg).startswith("💡 Tip")

    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_Filter())


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _no_adverts()
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
        rank = _process_rank()  # under torchrun/SLURM every rank reports: say which
        print(f"blurbench: error{f' (rank {rank})' if rank else ''}: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside evaluate/predict (which say what they kept): data download, zoo pull, ...
        print("blurbench: interrupted (Ctrl-C); files are written atomically, so none is half-written — re-run the "
              "same command to go on", file=sys.stderr)
        return 130
    except Exception as err:
        cause = _blurbench_cause(err)
        line = _one_line(cause) if cause is not None else known_fault_line(err, argv)
        if line is None:
            raise
        print(f"blurbench: error: {line}", file=sys.stderr)
        return 2


def _blurbench_cause(err: BaseException) -> BlurbenchError | None:
    """Our one-line error under another library's wrapper (jsonargparse re-raises a constructor's ConfigError as a
    ValueError listing every type it tried, whole Namespace included)."""
    seen: set[int] = set()
    cur: BaseException | None = err.__cause__ or err.__context__
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, BlurbenchError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _one_line(err: BlurbenchError) -> str:
    """The error's line; for one raised in a DataLoader worker, whose message PyTorch re-wraps with the worker's
    traceback, the original line (the traceback's last line, after the exception class)."""
    text = str(err)
    if "\nOriginal Traceback" not in text:
        return text
    last = [line for line in text.splitlines() if line.strip()][-1]
    return last.split(": ", 1)[1] if last.startswith(("blurbench.errors.", "DataError", "ConfigError")) else last


if __name__ == "__main__":
    sys.exit(main())
