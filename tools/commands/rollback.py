"""``servectl rollback``: apply an earlier recorded revision of a model again and wait for it."""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)
    parser.add_argument(
        "--to", type=int, metavar="N", help="the revision to go back to (default: the one before the latest)"
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for ready (300)")


def run(args: argparse.Namespace) -> int:
    deploy, target = _deploy_args.load(args)
    with target:
        now = target.rollback(deploy.unresolved(), to=args.to, timeout=args.timeout)
    print(f"{deploy.model}: {now}")
    return 0
