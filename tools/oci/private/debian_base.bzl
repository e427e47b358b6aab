"""Implementation of `debian_base`: the local Python base, from the pinned Debian .debs."""

load("@rules_oci//oci:defs.bzl", "oci_image")
load(":layer.bzl", "image_layer")

# The base's environment: tools/oci/debian.py BASE_ENV (tools/oci/tests/test_bazel_layers.py checks
# the two are equal). PATH like distroless; a UTF-8 locale that needs no locale files.
BASE_ENV = {
    "LANG": "C.UTF-8",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}

# The repository MODULE.bazel makes from the lock (tools/oci/private/debian_packages.bzl): one
# filegroup of .debs per lock layer.
DEBS_REPO = "@debian_bookworm"

def debian_base(
        name,
        lock,  # @unused: read by the Python builder; Bazel reads it through DEBS_REPO
        layers,
        architecture = "amd64",
        visibility = None,
        tags = []):
    """A Python 3.11 base image from the Debian bookworm .debs pinned in `lock`.

    `python -m tools build` assembles it without a container engine (tools/oci/debian.py). Under
    Bazel each of `layers` is an `image_layer(kind = "debian")` action over the lock layer's .debs
    (`@debian_bookworm//:<layer>`, downloaded by their sha256 from the same lock) running the
    CLI builder's own `debian.fill_layer`, and the base is an `oci_image` with no base of its own:
    the same files, user database and environment as the CLI's base.

    Args:
        name: the base's name (`python311`).
        lock: the JSON lock of .debs by layer (`packages.lock.json`), made by
            `python -m tools.oci.debian_lock` from packages.yaml; MODULE.bazel's debian_packages
            reads the same file.
        layers: which of the lock's layers this base has, in order (`["base", "interpreter"]`).
        architecture: the lock's architecture (packages.lock.json `architecture`; the graph check
            compares them).
        visibility: visibility of the image.
        tags: tags of the image.
    """
    internal = {"tags": tags + ["manual"], "visibility": ["//visibility:private"]}
    tars = []
    for layer in layers:
        image_layer(
            name = "%s_%s" % (name, layer),
            kind = "debian",
            debian_layer = layer,
            debs = "%s//:%s" % (DEBS_REPO, layer),
            **internal
        )
        tars.append(":%s_%s" % (name, layer))
    oci_image(
        name = name,
        architecture = architecture,
        env = BASE_ENV,
        os = "linux",
        tars = tars,
        tags = tags,
        visibility = visibility,
    )
