"""``servectl delete``: remove exactly one model's objects from an environment."""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed")


def run(args: argparse.Namespace) -> int:
    deploy, target = _deploy_args.load(args)
    with target:
        removed = deploy.delete(target, dry_run=args.dry_run)
    for line in removed:
        print(line)
    if not removed:
        print(f"{deploy.model}: nothing deployed on {deploy.env.name}")
    return 0
