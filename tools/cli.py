"""``python -m tools``: the one CLI behind every Bazel target (kubectl-like verbs).

Each verb lives in ``tools/commands/<verb>.py`` with ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their verb runs, so ``--help`` and the light
verbs never import heavy libraries.

Errors: a ``UserError`` prints one line (``error: FILE: FIELD: message``) and exits 2; Ctrl-C exits
130; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from tools.errors import UserError

# verb -> one-line help; the order is the order ``--help`` shows them in.
VERBS = {
    "build": "build OCI images (and the model artifacts they carry) into .build/images",
    "push": "push built images to a registry and record their digests",
    "resolve": "print a model's manifests for an environment, images pinned by digest",
    "diff": "show what apply would change (exit 1 when something would)",
    "apply": "build, push, resolve and apply a model to an environment, then wait until ready",
    "delete": "remove exactly one model's objects from an environment",
    "status": "ready replicas, running image digest and endpoint of a deployed model",
    "export": "write every model's resolved manifests for an environment to a directory GitOps syncs",
    "rbac": "print the deploying identity's least-privilege RBAC for an environment (for an admin)",
    "history": "the revisions of a model recorded on an environment",
    "rollback": "apply an earlier recorded revision of a model again and wait until ready",
    "predict": "send a real input to a deployed model and print the answer",
    "registry": "start, stop or check the local OCI registry",
    "prometheus": "start, stop or check the local Prometheus that scrapes the `local` models",
    "artifacts": "produce a model's artifacts (weights, exported models) into .build/artifacts",
    "demo": "the main job: apply a model to `local`, wait until ready, send it a real input",
    "doctor": "check this machine has what demo or test needs: one line per missing thing, exit 2",
}


def _verb_module(verb: str):
    return importlib.import_module(f"tools.commands.{verb}")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line like every other user error."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def build_parser(verbs: dict[str, str] = VERBS) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="servectl",
        description="Build, push, resolve and deploy the platform's models.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True, parser_class=_Parser)
    for verb, help_text in verbs.items():
        verb_parser = sub.add_parser(verb, help=help_text, description=help_text)
        _verb_module(verb).add_arguments(verb_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request at INFO; the verbs say what matters themselves.
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return int(_verb_module(args.verb).run(args) or 0)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        from tools.commands._output import print_error, wants_json

        if wants_json(args):
            print_error(error)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
