"""``servectl status``: ready replicas, running image digest and endpoint; exit 1 when not ready."""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args, _output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)
    _output.add_format(parser)


def run(args: argparse.Namespace) -> int:
    deploy, target = _deploy_args.load(args)
    with target:
        current = deploy.status(target)
    if _output.wants_json(args):
        _output.print_json(
            {
                "schema": _output.STATUS_SCHEMA,
                "model": deploy.model,
                "environment": deploy.env.name,
                "target": deploy.env.cluster.kind,
                "ready": current.ready,
                "endpoint": current.endpoint,
                "lines": current.lines,
                "details": current.details,
            }
        )
    else:
        print("\n".join(current.lines))
    return 0 if current.ready else 1
