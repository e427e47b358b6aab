"""`servectl predict`: not implemented yet; filled in by its issue."""

from __future__ import annotations

import argparse

from tools.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="*", help="model name or image label")


def run(args: argparse.Namespace) -> int:
    raise UserError("'predict' is not implemented yet")
