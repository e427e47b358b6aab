"""Shared fixtures: a private build dir (with the real .debs reused), a copy of the test image's
package to edit, and a real throwaway docker-registry on a free loopback port."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tools.oci import registry
from tools.oci.cache import seed_downloads
from tools.oci.tests.helpers import HELLO, podman_cleanup
from tools.paths import REPO_ROOT
from tools.testing.ports import free_port


@pytest.fixture(scope="package")
def build_dir(tmp_path_factory) -> Path:
    """CF_BUILD_DIR for these tests only (package scope: later suites must see the real one);
    verified .debs already downloaded are reused (checked against the lock's sha256 by name),
    everything else starts empty."""
    path = tmp_path_factory.mktemp("build")
    seed_downloads(path)
    old = os.environ.get("CF_BUILD_DIR")
    os.environ["CF_BUILD_DIR"] = str(path)
    yield path
    if old is None:
        del os.environ["CF_BUILD_DIR"]
    else:
        os.environ["CF_BUILD_DIR"] = old


@pytest.fixture(scope="session")
def repo_copy(tmp_path_factory) -> Path:
    """A repo root holding the Debian lock and the hello package, safe to edit."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(REPO_ROOT / "third_party" / "debian", root / "third_party" / "debian")
    shutil.copytree(REPO_ROOT / HELLO, root / HELLO, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory):
    """A real docker-registry (Debian's distribution 2.8) on a free port, stopped at the end."""
    state_dir = tmp_path_factory.mktemp("registry")
    state = registry.start(free_port(), state_dir=state_dir)
    yield state
    registry.stop(state_dir=state_dir)


@pytest.fixture
def podman_storage(tmp_path_factory):
    """A private podman storage for one test, unmounted and removed afterwards."""
    storage = tmp_path_factory.mktemp("podman")
    yield storage
    podman_cleanup(storage)
