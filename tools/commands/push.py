"""``servectl push``: build (cached) and push images to a registry, recording their digests.

Prints one line per image: the pushed reference and how many blobs and bytes were actually sent
(and how many blobs the registry mounted from another of its repositories instead).
``--layout LABEL=DIR`` pushes an OCI layout built elsewhere (Bazel's rules_oci image, passed by
``bazel run //models/<m>:deploy.<env>.apply``) instead of building ``LABEL``.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="*", metavar="TARGET", help="image label or model name")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--registry",
        help="HOST[:PORT][/PATH] of the registry (default: the local registry started by `registry start`)",
    )
    where.add_argument(
        "--env",
        help="push to this environment's registry, trusting its registryTLS (platform/environments/ENV.yaml)",
    )
    parser.add_argument(
        "--layout",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="push the OCI layout in DIR as image LABEL's, without building it (Bazel passes rules_oci's)",
    )
    parser.add_argument("--stamp", action="store_true", help="build stamped images (git commit, time)")


def _registry(args: argparse.Namespace) -> tuple[str, dict]:
    """The registry's address and push_image's TLS arguments (from the environment's registryTLS)."""
    from tools.errors import UserError
    from tools.oci import registry as local_registry
    from tools.oci.push import tls_from_environment

    if args.env:
        from tools.k8s.schema.environments import load_environment

        environment = load_environment(args.env)
        address = environment.registry
        host, _, port = address.split("/", 1)[0].partition(":")
        if host in ("127.0.0.1", "localhost"):
            local_registry.start(port=int(port or 80))  # the repo's own registry, as apply does
        return address, tls_from_environment(environment.registryTLS)
    if args.registry:
        return args.registry, {}
    state = local_registry.status()
    if state is None:
        raise UserError("no --registry given and the local registry is not running (registry start)")
    return state.address, {}


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tools.errors import UserError
    from tools.labels import Label, image_repository
    from tools.oci.builder import build_image
    from tools.oci.push import push_image, push_layout
    from tools.oci.targets import image_label

    if not args.targets and not args.layout:
        raise UserError("name at least one image (TARGET) or --layout LABEL=DIR")
    address, tls = _registry(args)
    results = []
    for text in args.layout:
        label, sep, directory = text.partition("=")
        if not sep or not (Path(directory) / "index.json").is_file():
            raise UserError(f"--layout {text!r}: expected LABEL=DIR with DIR an OCI layout (index.json)")
        parsed = Label.parse(label)
        results.append(push_layout(Path(directory), address, image_repository(parsed), **tls))
    for text in args.targets:
        built = build_image(image_label(text), stamp=args.stamp)
        results.append(push_image(built.label, address, **tls))
    for result in results:
        print(
            f"{result.reference} sent {result.blobs_sent}/{result.blobs_total} blobs "
            f"({result.blobs_mounted} mounted), {result.bytes_sent} of {result.bytes_total} bytes"
        )
    return 0
