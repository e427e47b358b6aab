"""pytest plugin: a session-wide real kube-apiserver (``apiserver`` fixture -> kubeconfig path).

Registered in the root conftest (``pytest_plugins = ["tools.testing.pytest_apiserver"]``), or per
run with ``-p tools.testing.pytest_apiserver``. When the binaries are missing, the fixture skips and
says which command builds them; under ``CI=true`` it fails instead, so CI can never go green by
silently skipping the cluster tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.testing.apiserver import ApiServer, missing_binaries, running_apiserver


def require_binaries() -> None:
    """Skips (saying which command builds them) when the binaries are missing; fails under CI=true.
    For tests that start a server of their own (to kill it, or with extra users)."""
    problem = missing_binaries()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"kube-apiserver tests cannot run in CI: {problem}", pytrace=False)
        pytest.skip(problem)


@pytest.fixture(scope="session")
def apiserver_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The running server (url, token, CA, kubeconfig, context), for tests that need more than a path."""
    require_binaries()
    with running_apiserver(tmp_path_factory.mktemp("apiserver")) as server:
        yield server


@pytest.fixture(scope="session")
def apiserver(apiserver_instance: ApiServer) -> Path:
    """The kubeconfig (token user, current-context ``cf-test``) of a real, freshly started API server."""
    return apiserver_instance.kubeconfig
