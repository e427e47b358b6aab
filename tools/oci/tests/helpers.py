"""Helpers shared by the image builder's tests (importable, unlike conftest)."""

from __future__ import annotations

from tools.testing.images import (  # noqa: F401 - re-exported for the tests here
    checkout_build_dir,
    podman_cleanup,
    podman_run,
    private_podman_storage,
    unpack,
)

HELLO = "tools/oci/tests/testdata/hello"
