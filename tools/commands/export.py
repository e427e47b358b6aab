"""``servectl export --env <env> DIR|--commit-to REPO``: manifests for GitOps (tools/deploy/gitops.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.commands import _deploy_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory", type=Path, nargs="?", help="where to write <env>/ (a checkout Argo CD or Flux syncs)"
    )
    parser.add_argument(
        "--commit-to", metavar="REPO", help="instead: commit <env>/ to this git repository and push"
    )
    parser.add_argument("--branch", default="main", help="the branch --commit-to commits to (main)")
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
    from tools.deploy.gitops import commit_to, export
    from tools.errors import UserError

    if (args.directory is None) == (args.commit_to is None):
        raise UserError("give a DIRECTORY or --commit-to REPO (one of them)")
    digests, models = _deploy_args.digests(args), args.model or None
    if args.commit_to:
        commit = commit_to(args.commit_to, args.branch, args.env, digests, models=models)
        print(f"{args.commit_to} {args.branch}: " + (f"committed {commit}" if commit else "nothing changed"))
    else:
        print(export(args.env, args.directory, digests, models=models))
    return 0
