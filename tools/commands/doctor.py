"""``servectl doctor``: the prerequisites of ``demo`` or ``test`` on this machine, one line each.

Exit 0 when nothing is missing; otherwise one ``doctor: WHAT: FIX`` line per problem and exit 2,
before anything is built, pushed or run.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--for", dest="purpose", choices=("demo", "test"), default="demo", help="what is about to run (demo)"
    )
    parser.add_argument("models", nargs="*", help="only these models' host ports (default: all)")


def run(args: argparse.Namespace) -> int:
    from tools import doctor

    found = doctor.problems(args.purpose, args.models or None)
    for problem in found:
        print(problem, file=sys.stderr)
    return 2 if found else 0
