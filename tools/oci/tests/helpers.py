"""Helpers shared by the image tests (importable, unlike conftest)."""

from __future__ import annotations

import tarfile
from pathlib import Path

HELLO = "tools/oci/tests/testdata/hello"


def unpack(layout_dir: Path, manifest: dict, dest: Path) -> None:
    """Applies the image's layers in order (no whiteouts are ever produced by our builder)."""
    for layer in manifest["layers"]:
        blob = layout_dir / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")
        with tarfile.open(blob, "r:gz") as tar:
            tar.extractall(dest, filter="fully_trusted")  # our own image; keeps /tmp 1777
