"""Hermetic, reproducible OCI images without a container engine, their push, the local registry.

- ``builder``: a ``py_image`` from a BUILD file -> an OCI layout + ``.digest`` (``debian`` makes the
  base from pinned .debs; ``layers`` the pip/artifact/app layers; ``tarball``/``layout`` the bytes).
- ``push``: the registry HTTP API, sending only missing blobs; ``registry``: Debian's
  docker-registry on 127.0.0.1.
- ``defs.bzl``: the same ``py_image`` description expanded to rules_oci for Bazel users.
"""
