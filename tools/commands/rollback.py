"""``servectl rollback``: apply an earlier recorded revision of a model again and wait for it."""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args, _output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)
    parser.add_argument(
        "--to", type=int, metavar="N", help="the revision to go back to (default: the one before the latest)"
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for ready (300)")
    _output.add_format(parser)


def run(args: argparse.Namespace) -> int:
    deploy, target = _deploy_args.load(args)
    with target:
        now = target.rollback(deploy.unresolved(), to=args.to, timeout=args.timeout)
    if _output.wants_json(args):
        document = {"model": deploy.model, "environment": deploy.env.name, **now.summary()}
        _output.print_json({"schema": _output.ROLLBACK_SCHEMA, **document})
        return 0
    print(f"{deploy.model}: {now.describe()}")
    return 0
