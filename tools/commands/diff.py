"""``servectl diff``: what apply would change; exit 1 when something would (like kubectl diff)."""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args, _output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)
    _output.add_format(parser)


def run(args: argparse.Namespace) -> int:
    deploy, target = _deploy_args.load(args)
    with target:
        changes = deploy.diff(target)
    if _output.wants_json(args):
        _output.print_json(
            {
                "schema": _output.DIFF_SCHEMA,
                "model": deploy.model,
                "environment": deploy.env.name,
                "changed": bool(changes),
                "diff": changes.splitlines(),
            }
        )
    elif changes:
        print(changes)
    return 1 if changes else 0
