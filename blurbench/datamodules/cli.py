"""``blurbench data``: list, prepare, check and download datasets."""

from __future__ import annotations

import argparse
import json

from blurbench.errors import ConfigError


def cmd_data(args: argparse.Namespace) -> int:
    from blurbench.datamodules import builtin
    from blurbench.datamodules.registry import datasets, suites

    if args.data_command == "list":
        for suite in suites():
            for spec in datasets(suite):
                print(f"{suite:10s} {spec.name:16s} {spec.kind:10s} {spec.description}")
        return 0
    if args.data_command == "prepare":
        if args.name != builtin.SUITE:
            raise ConfigError(f"'{args.name}' is not generated locally",
                              f"use `blurbench data download {args.name} --root PATH`")
        for name in builtin.builtin_datasets():
            path = builtin.prepare(name, force=args.force)
            print(f"{name}: {path}")
        return 0
    if args.data_command == "check":
        if args.name != builtin.SUITE:
            raise ConfigError(f"no checker for dataset '{args.name}' yet", "see `blurbench data list`")
        report = {"dataset": args.name, "root": str(builtin.dataset_dir("").parent), "splits": {}, "problems": []}
        for name in builtin.builtin_datasets():
            problems = builtin.verify(name)
            report["problems"] += problems
            report["splits"][name] = 0 if problems else len(builtin.PHOTOS)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            for split, count in report["splits"].items():
                print(f"{split}: {count} items")
            for problem in report["problems"]:
                print(f"problem: {problem}")
        return 0 if not report["problems"] else 2
    raise ConfigError("missing data subcommand", "see `blurbench data --help`")


def add_data_parser(subparsers) -> argparse.ArgumentParser:
    da = subparsers.add_parser("data", help="list, prepare, check and download datasets",
                        description="Dataset tools. The built-in suite is generated locally from scikit-image's "
                                    "bundled photographs; other datasets are read from --root in their official "
                                    "layout.")
    dsub = da.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    dsub.add_parser("list", help="list suites and datasets")
    pr = dsub.add_parser("prepare", help="generate the built-in benchmark into the cache")
    pr.add_argument("name", help="'builtin'")
    pr.add_argument("--force", action="store_true", help="regenerate even if the cache is intact")
    ch = dsub.add_parser("check", help="validate a dataset tree (exit 0 complete, 2 otherwise)")
    ch.add_argument("name")
    ch.add_argument("--root", default=None, help="dataset root directory")
    ch.add_argument("--json", action="store_true", help="print a JSON report")
    da.set_defaults(func=cmd_data)
    return da

