"""``servectl resolve <model> --env <env>``: the model's complete manifests, images pinned by digest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.commands import _deploy_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser, kubeconfig=False)
    parser.add_argument("-o", "--output", type=Path, help="write the YAML to this file instead of stdout")


def run(args: argparse.Namespace) -> int:
    from tools.k8s.render import to_yaml
    from tools.k8s.render.resolve import resolve
    from tools.supply.policy import warn_model_licences

    text = to_yaml(resolve(args.model, args.env, _deploy_args.digests(args)))
    warn_model_licences(args.model, args.env)  # licences needing a decision, from the last SBOMs
    if args.output:
        tmp = args.output.with_name(args.output.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.output)  # never a half-written file, even on Ctrl-C
    else:
        sys.stdout.write(text)
    return 0
