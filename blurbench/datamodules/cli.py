"""``blurbench data``: list, prepare, check and download datasets."""

from __future__ import annotations

import argparse
import json

from blurbench.datamodules.catalog import get_checker
from blurbench.datamodules.registry import datasets, suites
from blurbench.errors import ConfigError


def cmd_data(args: argparse.Namespace) -> int:
    if args.data_command == "list":  # names and metadata only: no dataset module (torch, Lightning) is imported
        for suite in suites():
            for spec in datasets(suite):
                print(f"{suite:14s} {spec.name:20s} {spec.kind:10s} {spec.description}")
        return 0
    from blurbench.datamodules import builtin  # deferred: the generator imports torch

    if args.data_command == "prepare":
        if args.name != builtin.SUITE:
            raise ConfigError(f"'{args.name}' is not generated locally",
                              f"use `blurbench data download {args.name} --root PATH`")
        for name in builtin.builtin_datasets():
            path = builtin.prepare(name, force=args.force)
            print(f"{name}: {path}")
        return 0
    if args.data_command == "check":
        if args.name == builtin.SUITE:
            report = {"dataset": args.name, "root": str(builtin.dataset_dir("").parent), "splits": {},
                      "problems": []}
            for name in builtin.builtin_datasets():
                problems = builtin.verify(name)
                report["problems"] += problems
                report["splits"][name] = 0 if problems else len(builtin.PHOTOS)
            official: dict = {}
        else:
            report, official = _check_tree(args.name, args.root, args.allow_subset)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            for split, count in report["splits"].items():
                extra = f" (official {official[split]})" if official.get(split) is not None else ""
                print(f"{split}: {count} items{extra}")
            for problem in report["problems"]:
                print(f"problem: {problem}")
            n = len(report["problems"])
            print(f"{args.name}: " + ("complete" if not n else f"{n} problem{'s' if n > 1 else ''}"))
        return 0 if not report["problems"] else 2
    if args.data_command == "download":
        return _download(args)
    raise ConfigError("missing data subcommand", "see `blurbench data --help`")


def _check_tree(name: str, root: str | None, allow_subset: bool) -> tuple[dict, dict]:
    checker = get_checker(name)
    if root is None:
        raise ConfigError(f"dataset '{name}' is read from disk", "pass --root PATH (the folder it was unpacked into)")
    dm = checker.factory(root, allow_subset=True if allow_subset else None)
    counts, problems = dm.check_all()
    parts = getattr(dm, "parts", {"": dm})
    official = {}
    for prefix, part in parts.items():
        for split, count in getattr(part, "official_counts", {}).items():
            official[f"{prefix}/{split}" if prefix else split] = count
    resolved = getattr(dm, "root", None) or next(iter(parts.values())).root
    return {"dataset": name, "root": str(resolved), "splits": counts, "problems": problems}, official


def _download(args: argparse.Namespace) -> int:
    # deferred: blurbench.io imports torch
    from blurbench.datamodules.download import DownloadSpec, Source, download, get_download

    if args.from_url:
        spec = DownloadSpec(args.name, sources=(Source(args.from_url, args.sha256),))
    else:
        spec = get_download(args.name)
        if args.sha256:
            raise ConfigError("--sha256 goes with --from-url", "pass both, or neither")
    if args.root is None:
        raise ConfigError("missing --root", "pass the folder to unpack the dataset into")
    download(spec, args.root)
    for note in spec.notes:
        print(f"note: {note}")
    print(f"{args.name}: downloaded into {args.root}; run `blurbench data check {args.name} --root {args.root}`")
    return 0


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
    ch.add_argument("name", help="'builtin' or a dataset name (see `blurbench data list`)")
    ch.add_argument("--root", default=None, help="dataset root directory")
    ch.add_argument("--json", action="store_true", help="print a JSON report")
    ch.add_argument("--allow-subset", action="store_true",
                    help="accept fewer items than the official release (a consistent subset)")
    dl = dsub.add_parser("download", help="download, verify and unpack a dataset (exit 2 if it is not public)",
                         description="Fetch a dataset's public archives (resumable, sha256-verified) and unpack them "
                                     "into --root in the official layout. Datasets whose licence forbids "
                                     "redistribution print where to get them and exit with code 2.")
    dl.add_argument("name", help="dataset name (see `blurbench data list`)")
    dl.add_argument("--root", default=None, help="folder to unpack into")
    dl.add_argument("--from-url", default=None, help="fetch this archive instead (http(s)://, file://, hf://datasets/...)")
    dl.add_argument("--sha256", default=None, help="expected sha256 of --from-url")
    da.set_defaults(func=cmd_data)
    return da

