"""``servectl status``: ready replicas, running image digest and endpoint; exit 1 when not ready."""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)


def run(args: argparse.Namespace) -> int:
    deploy, target = _deploy_args.load(args)
    with target:
        current = deploy.status(target)
    print("\n".join(current.lines))
    return 0 if current.ready else 1
