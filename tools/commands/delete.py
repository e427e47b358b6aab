"""``servectl delete``: remove exactly one model's objects from an environment."""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args, _output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed")
    _output.add_format(parser)


def run(args: argparse.Namespace) -> int:
    deploy, target = _deploy_args.load(args)
    with target:
        removed = deploy.delete(target, dry_run=args.dry_run)
    if _output.wants_json(args):
        _output.print_json(
            {
                "schema": _output.DELETE_SCHEMA,
                "model": deploy.model,
                "environment": deploy.env.name,
                "dry_run": args.dry_run,
                "deleted": removed,
            }
        )
        return 0
    for line in removed:
        print(line)
    if not removed:
        print(f"{deploy.model}: nothing deployed on {deploy.env.name}")
    return 0
