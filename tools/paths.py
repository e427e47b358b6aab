"""Where the repo's tools read sources and write outputs.

Outputs mirror Bazel's: the image built for ``//models/yolo:image`` is an OCI layout at
``.build/images/models/yolo/image/`` and its manifest digest is in
``.build/images/models/yolo/image.digest`` (rules_oci's ``:image.digest``). ``CF_BUILD_DIR``
moves the whole output tree (tests point it at a temporary directory).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tools.labels import Label

REPO_ROOT = Path(__file__).resolve().parent.parent


def build_dir() -> Path:
    """``CF_BUILD_DIR``; else, under ``bazel test``, the test's own scratch dir ($TEST_TMPDIR), since
    the source tree is read-only in Bazel's sandbox and must stay untouched; else ``.build/``."""
    if "CF_BUILD_DIR" in os.environ:
        return Path(os.environ["CF_BUILD_DIR"])
    if "TEST_TMPDIR" in os.environ:
        return Path(os.environ["TEST_TMPDIR"]) / "build"
    return REPO_ROOT / ".build"


def image_layout_dir(label: Label) -> Path:
    return build_dir() / "images" / label.package / label.name


def image_digest_file(label: Label) -> Path:
    return build_dir() / "images" / label.package / f"{label.name}.digest"


def artifact_dir(label: Label) -> Path:
    """Where a model artifact target (weights, an exported model) writes its files."""
    return build_dir() / "artifacts" / label.package / label.name


def cache_dir() -> Path:
    return build_dir() / "cache"


def link_or_copy(src: str | Path, dst: str | Path) -> None:
    """A hard link where ``dst`` is on the same filesystem as ``src``, else a copy (EXDEV)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
