"""The test API server itself: secured, loopback only, stopped cleanly; and the fixture's skip/fail rule."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tools.paths import REPO_ROOT
from tools.testing.apiserver import BUILD_COMMAND, _get, missing_binaries, running_apiserver


@pytest.mark.slow
def test_server_needs_the_token_and_listens_on_loopback_only(apiserver_instance):
    server = apiserver_instance

    assert server.url.startswith("https://127.0.0.1:")
    assert _get(f"{server.url}/readyz", token=server.token, ca_file=server.ca_file) == 200
    assert _get(f"{server.url}/api/v1/namespaces", ca_file=server.ca_file) == 401  # anonymous auth is off
    assert _get(f"{server.url}/api/v1/namespaces", token="wrong", ca_file=server.ca_file) == 401
    assert _get(f"{server.url}/version", token=server.token) is None  # the CA is ours, not the system's
    assert oct(server.kubeconfig.stat().st_mode & 0o777) == "0o600"  # it holds the admin token


@pytest.mark.slow
def test_leaving_the_context_stops_etcd_and_the_apiserver(tmp_path):
    if missing_binaries():
        pytest.skip(missing_binaries())
    with running_apiserver(tmp_path) as server:
        port = int(server.url.rsplit(":", 1)[1])
        pids = _pids_with_cwd_files(tmp_path)
        assert len(pids) == 2, "etcd and kube-apiserver"

    assert all(not os.path.exists(f"/proc/{pid}") or _is_zombie(pid) for pid in pids)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the secure port is closed"


def _pids_with_cwd_files(workdir) -> list[int]:
    """Processes whose command line names a file under ``workdir`` (the two servers we started)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(workdir) in cmdline and not _is_zombie(int(entry)):
                pids.append(int(entry))
    return pids


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


_USES_FIXTURE = textwrap.dedent(
    """
    def test_needs_a_server(apiserver):
        raise AssertionError("must not run without the binaries")
    """
)


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_missing_binary_skips_locally_and_fails_in_ci(tmp_path, ci, outcome):
    (tmp_path / "test_inner.py").write_text(_USES_FIXTURE)
    env = {
        **os.environ,
        "CI": ci,
        "KUBE_APISERVER": str(tmp_path / "no-such-binary"),
        "PYTHONPATH": str(REPO_ROOT),
    }

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tools.testing.pytest_apiserver", "-rs", "-q",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip

    assert outcome in result.stdout, result.stdout
    assert f"no kube-apiserver at {tmp_path / 'no-such-binary'}" in result.stdout
    assert f"run `{BUILD_COMMAND}`" in result.stdout
