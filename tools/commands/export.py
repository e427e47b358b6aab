"""``servectl export --env <env> DIR``: resolved manifests for GitOps (tools/deploy/gitops.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.commands import _deploy_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory", type=Path, help="where to write <env>/ (a checkout Argo CD or Flux syncs)"
    )
    parser.add_argument("--env", required=True, help="an environment under platform/environments/")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="only these models (default: every model of the environment)",
    )
    parser.add_argument(
        "--digest",
        action="append",
        default=[],
        metavar="LABEL=sha256:HEX",
        help="an image's digest (else its build's)",
    )
    parser.add_argument(
        "--digest-file",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="read an image's digest from PATH",
    )


def run(args: argparse.Namespace) -> int:
    from tools.deploy.gitops import export

    target = export(args.env, args.directory, _deploy_args.digests(args), models=args.model or None)
    print(target)
    return 0
