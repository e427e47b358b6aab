"""``servectl history``: the revisions of a model recorded on its environment, oldest first."""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args, _output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)
    _output.add_format(parser)


def run(args: argparse.Namespace) -> int:
    deploy, target = _deploy_args.load(args)
    with target:
        revisions = target.history(deploy.unresolved())
    if _output.wants_json(args):
        _output.print_json(
            {
                "schema": _output.HISTORY_SCHEMA,
                "model": deploy.model,
                "environment": deploy.env.name,
                "revisions": [r.summary() for r in revisions],
            }
        )
        return 0
    lines = [r.describe() for r in revisions]
    print("\n".join(lines) if lines else f"{deploy.model}: no revisions recorded on {deploy.env.name}")
    return 0
