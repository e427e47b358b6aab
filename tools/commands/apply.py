"""``servectl apply``: build, push, resolve and apply a model, then wait until it is ready."""

from __future__ import annotations

import argparse

from tools.commands import _deploy_args, _output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser)
    parser.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for ready (300)")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for the rollout")
    parser.add_argument(
        "--skip-gpu-preflight",
        action="store_true",
        help="apply even when no node advertises the GPU/MIG resources yet (GPU node pools that "
        "an autoscaler grows from zero once a pod is Pending)",
    )
    parser.add_argument(
        "--canary",
        type=int,
        metavar="P",
        help="run the new version beside the serving one with about P%% of requests, judged by its "
        "own /metrics over the environment's canary window, then promote it or roll it back (exit 2)",
    )
    _output.add_format(parser)


def run(args: argparse.Namespace) -> int:
    deploy, target = _deploy_args.load(args)
    with target:
        applied = deploy.apply(
            target,
            dry_run=args.dry_run,
            timeout=args.timeout,
            wait=not args.no_wait,
            preflight=not args.skip_gpu_preflight,
            canary=args.canary,
        )
    if _output.wants_json(args):
        _output.print_json(
            {
                "schema": _output.APPLY_SCHEMA,
                "model": deploy.model,
                "environment": deploy.env.name,
                "dry_run": args.dry_run,
                "changed": applied.changed,
                "images": applied.images,
                "report": applied.report,
            }
        )
        return 0
    for line in applied.report:
        print(line)
    return 0
