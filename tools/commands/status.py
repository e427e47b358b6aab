"""``servectl status``: ready replicas, running image digest and endpoint; exit 1 when not ready."""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)


def run(args: argparse.Namespace) -> int:
    from tools import deploy

    ready, lines = deploy.status(_deploy_args.load(args), kubeconfig=args.kubeconfig)
    print("\n".join(lines))
    return 0 if ready else 1
