"""``blurbench zoo``: list, pull, convert and publish pretrained models."""

from __future__ import annotations

import argparse


def add_zoo_parser(subparsers) -> argparse.ArgumentParser:
    zo = subparsers.add_parser("zoo", help="list, pull, convert and publish pretrained models",
                               description="Model zoo: weights on the Hugging Face Hub, verified by sha256.")
    zo.set_defaults(func=lambda args: zo.print_help() or 0)
    return zo
