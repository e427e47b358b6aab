"""``servectl push``: build (cached) and push images to a registry, recording their digests.

Prints one line per image: the pushed reference and how many blobs and bytes were actually sent.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="+", metavar="TARGET", help="image label or model name")
    parser.add_argument(
        "--registry",
        help="HOST:PORT of the registry (default: the local registry started by `registry start`)",
    )
    parser.add_argument("--stamp", action="store_true", help="build stamped images (git commit, time)")


def run(args: argparse.Namespace) -> int:
    from tools.errors import UserError
    from tools.oci import registry as local_registry
    from tools.oci.builder import build_image
    from tools.oci.push import push_image
    from tools.oci.targets import image_label

    address = args.registry
    if address is None:
        state = local_registry.status()
        if state is None:
            raise UserError("no --registry given and the local registry is not running (registry start)")
        address = state.address
    for text in args.targets:
        built = build_image(image_label(text), stamp=args.stamp)
        result = push_image(built.label, address)
        print(
            f"{result.reference} sent {result.blobs_sent}/{result.blobs_total} blobs, "
            f"{result.bytes_sent} of {result.bytes_total} bytes"
        )
    return 0
