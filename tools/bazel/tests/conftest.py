"""Fixture repos for the graph check: the real Bazel front door plus a testdata case on top."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools.bazel import environments_bzl
from tools.paths import REPO_ROOT

TESTDATA = Path(__file__).resolve().parent.parent / "testdata"

# The real files every case is checked with: the module file and our macros, as committed.
# Packages other people own (tools/oci, tools/k8s's BUILD) come from testdata/common instead.
FRONT_DOOR = (
    "MODULE.bazel",
    "BUILD.bazel",
    "conftest.py",
    "pyproject.toml",
    ".bazelignore",
    "third_party/python/BUILD.bazel",
    "third_party/python/hubs.bzl",
    "third_party/debian/*",
    "tools/BUILD.bazel",
    "tools/defs.bzl",
    "tools/*.py",
    "tools/commands/*.py",
    "tools/deploy/tests/*",
    "tools/artifacts/*",
    "tools/artifacts/private/*",
    "tools/bazel/*",
    "tools/bazel/rule_attrs/*",
    "tools/bazel/tests/*",
    "tools/k8s/defs.bzl",
    "tools/k8s/private/*",
    "tools/oci/layer_main.py",
    "tools/oci/private/*.bzl",
    "tools/lint/*",
    "tools/lint/tests/*",
    "tools/testing/*",
    "tools/testing/apiserver/*",
    "tools/testing/private/*",
    "tools/setup/rehearse.sh",
    "tools/testing/tests/*",
    "tools/tests/*",
)


def make_repo(destination: Path, *cases: str) -> Path:
    for pattern in FRONT_DOOR:
        for source in sorted(REPO_ROOT.glob(pattern)):
            if source.is_file():
                target = destination / source.relative_to(REPO_ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    for case in ("common", *cases):
        shutil.copytree(TESTDATA / case, destination, dirs_exist_ok=True)
    # platform/environments.bzl from the fixture's environments, by the repo's own generator,
    # unless the case brings its own (a stale one, on purpose).
    if not (destination / environments_bzl.BZL).exists():
        environments_bzl.main([], root=destination)
    return destination


@pytest.fixture
def fixture_repo(tmp_path):
    """make_repo bound to a fresh temporary directory: fixture_repo("good", "broken_label")."""
    made = []

    def make(*cases: str) -> Path:
        made.append(cases)
        return make_repo(tmp_path / f"repo{len(made)}", *cases)

    return make
