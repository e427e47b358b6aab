"""Fixture py_image: the smallest macro with the real one's shape (image, .push, .digest)."""

load("@rules_oci//oci:defs.bzl", "oci_image", "oci_push")
load("@rules_pkg//pkg:tar.bzl", "pkg_tar")
load("//tools/oci/private:debian_base.bzl", _debian_base = "debian_base")

# The real Debian base macro (copied from tools/oci/private/ with third_party/debian/).
debian_base = _debian_base

def py_image(name, base, srcs = [], entrypoint = [], **kwargs):
    """An image of `srcs` under /app on `base`, and its push target.

    Args:
        name: image target name.
        base: base image label.
        srcs: files for the app layer.
        entrypoint: container entrypoint.
        **kwargs: passed to oci_image.
    """
    pkg_tar(
        name = name + "_app",
        srcs = srcs,
        package_dir = "/app",
    )
    oci_image(
        name = name,
        base = base,
        entrypoint = entrypoint,
        tars = [":" + name + "_app"],
        **kwargs
    )
    oci_push(
        name = name + ".push",
        image = ":" + name,
        repository = "registry.invalid/" + native.package_name() + "/" + name,
    )
