"""Arguments every deploy verb shares: the model, the environment, digests, the kubeconfig."""

from __future__ import annotations

import argparse

from tools.errors import UserError


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a model under models/ (yolo, gpt2, resnet50)")
    parser.add_argument(
        "--env", default="local", help="an environment under platform/environments/ (default: local)"
    )
    parser.add_argument(
        "--digest-file",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="use this digest file for an image instead of building it (Bazel passes rules_oci's)",
    )
    parser.add_argument("--kubeconfig", help="kubeconfig for Kubernetes environments (default: $KUBECONFIG)")


def digest_files(args: argparse.Namespace) -> dict[str, str]:
    pairs = {}
    for item in args.digest_file:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise UserError(f"--digest-file takes LABEL=PATH, got {item!r}")
        pairs[label] = path
    return pairs


def load(args: argparse.Namespace):
    from tools.deploy import Deploy

    return Deploy.load(args.model, args.env, digest_files(args))
