"""``servectl build``: OCI image layouts (and the model artifacts they carry) into .build/images.

Prints ``<label> <digest>`` per image on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="+", metavar="TARGET", help="image label or model name")
    parser.add_argument(
        "--stamp",
        action="store_true",
        help="record the git commit and build time in the image labels (changes the digest)",
    )
    parser.add_argument("--clean", action="store_true", help="ignore cached layers and rebuild every layer")


def run(args: argparse.Namespace) -> int:
    from tools.oci import cache
    from tools.oci.builder import build_image
    from tools.oci.targets import image_label

    if args.clean:
        cache.clear_layers()
    for text in args.targets:
        built = build_image(image_label(text), stamp=args.stamp)
        print(f"{built.label} {built.digest}")
    return 0
