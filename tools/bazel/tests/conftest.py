"""Fixture repos for the graph check: the real Bazel front door plus a testdata case on top."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools.paths import REPO_ROOT

TESTDATA = Path(__file__).resolve().parent.parent / "testdata"

# The real files every case is checked with: the module file and our macros, as committed.
FRONT_DOOR = (
    "MODULE.bazel",
    "BUILD.bazel",
    ".bazelignore",
    "third_party/python/BUILD.bazel",
)
TOOLS_IGNORE = shutil.ignore_patterns("tests", "testdata", "__pycache__", "oci", "testing")


def make_repo(destination: Path, *cases: str) -> Path:
    for rel in FRONT_DOOR:
        (destination / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, destination / rel)
    shutil.copytree(REPO_ROOT / "tools", destination / "tools", ignore=TOOLS_IGNORE)
    for case in ("common", *cases):
        shutil.copytree(TESTDATA / case, destination, dirs_exist_ok=True)
    return destination


@pytest.fixture
def fixture_repo(tmp_path):
    """make_repo bound to a fresh temporary directory: fixture_repo("good", "broken_label")."""
    made = []

    def make(*cases: str) -> Path:
        made.append(cases)
        return make_repo(tmp_path / f"repo{len(made)}", *cases)

    return make
