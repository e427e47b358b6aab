"""``servectl resolve <model> --env <env>``: the model's complete manifests, images pinned by digest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.errors import UserError


def _pair(text: str, flag: str) -> tuple[str, str]:
    label, sep, value = text.partition("=")
    if not sep or not label or not value:
        raise UserError(f"{flag} expects LABEL=VALUE, got {text!r}")
    return label, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a model under models/ (yolo, gpt2, resnet50)")
    parser.add_argument(
        "--env", default="local", help="an environment under platform/environments/ (default: local)"
    )
    parser.add_argument(
        "--digest",
        action="append",
        default=[],
        metavar="LABEL=sha256:HEX",
        help="use this digest for the image instead of its digest file (tests, CI)",
    )
    parser.add_argument(
        "--digest-file",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="read the image's digest from PATH (Bazel passes rules_oci's <image>.digest)",
    )
    parser.add_argument("-o", "--output", type=Path, help="write the YAML to this file instead of stdout")


def digests_from_args(args: argparse.Namespace) -> dict[str, str]:
    from tools.k8s.resolve import read_digest_file
    from tools.labels import Label

    digests: dict[str, str] = {}
    for text in args.digest_file:
        label, path = _pair(text, "--digest-file")
        digests[str(Label.parse(label))] = read_digest_file(Path(path))
    for text in args.digest:
        label, digest = _pair(text, "--digest")
        digests[str(Label.parse(label))] = digest
    return digests


def run(args: argparse.Namespace) -> int:
    from tools.k8s.render import to_yaml
    from tools.k8s.resolve import resolve

    text = to_yaml(resolve(args.model, args.env, digests_from_args(args)))
    if args.output:
        tmp = args.output.with_name(args.output.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.output)  # never a half-written file, even on Ctrl-C
    else:
        sys.stdout.write(text)
    return 0
