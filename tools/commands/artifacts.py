"""``servectl artifacts``: produce a model's artifacts (weights, exported models), cached."""

from __future__ import annotations

import argparse

from tools.artifacts import build_artifacts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("labels", nargs="+", help="model_artifacts targets, e.g. //models/yolo:weights")
    parser.add_argument("--force", action="store_true", help="rebuild even when the cache is fresh")


def run(args: argparse.Namespace) -> int:
    for label in args.labels:
        print(build_artifacts(label, force=args.force))
    return 0
