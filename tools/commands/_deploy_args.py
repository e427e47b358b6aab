"""Arguments the model verbs share: the model, the environment, image digests, the kubeconfig."""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.errors import UserError


def add_common(parser: argparse.ArgumentParser, *, kubeconfig: bool = True) -> None:
    parser.add_argument("model", help="a model under models/ (yolo, gpt2, resnet50)")
    parser.add_argument(
        "--env", default="local", help="an environment under platform/environments/ (default: local)"
    )
    parser.add_argument(
        "--digest",
        action="append",
        default=[],
        metavar="LABEL=sha256:HEX",
        help="use this digest for the image instead of building it (tests, CI)",
    )
    parser.add_argument(
        "--digest-file",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="read the image's digest from PATH instead of building it (Bazel passes rules_oci's)",
    )
    if kubeconfig:
        parser.add_argument("--kubeconfig", help="kubeconfig for Kubernetes environments ($KUBECONFIG)")


def _pair(text: str, flag: str) -> tuple[str, str]:
    label, sep, value = text.partition("=")
    if not sep or not label or not value:
        raise UserError(f"{flag} expects LABEL=VALUE, got {text!r}")
    return label, value


def digests(args: argparse.Namespace) -> dict[str, str]:
    """Image label -> checked ``sha256:<hex>`` from --digest-file and --digest (which wins)."""
    from tools.k8s.render.resolve import check_digest, read_digest_file
    from tools.labels import Label

    found: dict[str, str] = {}
    for text in args.digest_file:
        label, path = _pair(text, "--digest-file")
        found[str(Label.parse(label))] = read_digest_file(Path(path))
    for text in args.digest:
        label, digest = _pair(text, "--digest")
        found[str(Label.parse(label))] = check_digest(digest, source="--digest", field=label)
    return found


def load(args: argparse.Namespace):
    """The model's Deploy (inputs loaded, objects rendered once) and its environment's Target,
    connected (for Kubernetes: the server answered, before anything is built); use ``with target``."""
    deploy = load_deploy(args)
    return deploy, open_target(deploy, args)


def load_deploy(args: argparse.Namespace):
    """The model's Deploy: its inputs loaded and checked, its objects rendered once."""
    from tools.deploy import Deploy

    return Deploy.load(args.model, args.env, digests(args))


def open_target(deploy, args: argparse.Namespace):
    """The Target of the deploy's environment, with ``--kubeconfig`` where the verb has it."""
    from tools.deploy import open_target as open_environment

    return open_environment(deploy.env, kubeconfig=getattr(args, "kubeconfig", None))
