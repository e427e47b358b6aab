"""``servectl diff``: what apply would change; exit 1 when something would (like kubectl diff)."""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)


def run(args: argparse.Namespace) -> int:
    deploy, target = _deploy_args.load(args)
    with target:
        changes = deploy.diff(target)
    if changes:
        print(changes)
        return 1
    return 0
