"""``servectl resolve <model> --env <env>``: the model's complete manifests, images pinned by digest."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tools.commands import _deploy_args, _output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _deploy_args.add_common(parser, kubeconfig=False)
    _output.add_format(parser, text="yaml")
    parser.add_argument("--to", type=Path, metavar="FILE", help="write to this file instead of stdout")


def run(args: argparse.Namespace) -> int:
    from tools.k8s.render import to_yaml
    from tools.k8s.render.resolve import resolve
    from tools.supply.policy import warn_model_licences

    objects = resolve(args.model, args.env, _deploy_args.digests(args))
    if _output.wants_json(args):
        text = json.dumps(_output.object_list(objects), indent=2, sort_keys=True) + "\n"
    else:
        text = to_yaml(objects)
    warn_model_licences(args.model, args.env)  # licences needing a decision, from the last SBOMs
    if args.to:
        tmp = args.to.with_name(args.to.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.to)  # never a half-written file, even on Ctrl-C
    else:
        sys.stdout.write(text)
    return 0
