"""``servectl history``: the revisions of a model recorded on its environment, oldest first."""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)


def run(args: argparse.Namespace) -> int:
    deploy, target = _deploy_args.load(args)
    with target:
        lines = target.history(deploy.unresolved())
    print("\n".join(lines) if lines else f"{deploy.model}: no revisions recorded on {deploy.env.name}")
    return 0
