"""`./dev doctor`: each check against the real thing it looks at (a listening socket, a small
filesystem, a read-only mount, the CLI's exit code), never against a patched answer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools import doctor
from tools.paths import REPO_ROOT

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture
def small_mount(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs: a filesystem far smaller than any purpose needs."""
    target = tmp_path / "small"
    target.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_a_held_port_is_named_with_its_holder(listening_port: int) -> None:
    found = list(doctor.check_ports({listening_port: "platform/environments/local.yaml: registry"}))
    assert len(found) == 1, found
    line = str(found[0])
    assert f"port {listening_port} (platform/environments/local.yaml: registry) is taken by" in line
    # This test's own process holds it: the check read /proc to find it.
    assert f"(pid {os.getpid()})" in line


def test_a_free_port_is_no_problem(listening_port: int) -> None:
    # The fixture's socket is closed after the test; take another port that nothing holds.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert list(doctor.check_ports({free: "somewhere"})) == []


@needs_root
@pytest.mark.parametrize("purpose", ["demo", "test"])
def test_too_little_disk_is_one_line_with_the_fix(
    small_mount: Path, monkeypatch: pytest.MonkeyPatch, purpose: str
) -> None:
    monkeypatch.setenv("CF_BUILD_DIR", str(small_mount / "build"))
    found = [str(p) for p in doctor.check_disk(purpose)]
    assert len(found) == 1, found
    assert f"GiB free under {small_mount}" in found[0]
    assert f"{purpose} needs about {doctor.MIN_FREE_GIB[purpose]} GiB" in found[0]
    assert "set CF_BUILD_DIR to a larger filesystem" in found[0]


@needs_root
def test_a_read_only_build_dir_is_named(small_mount: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    monkeypatch.setenv("CF_BUILD_DIR", str(small_mount))
    found = [str(p) for p in doctor.check_disk("demo")]
    assert f"doctor: cannot write the build dir {small_mount} (Read-only file system)" in "\n".join(found)


@needs_root
def test_the_cli_exits_2_naming_the_problem(small_mount: Path) -> None:
    """The command as ./dev runs it, with the build dir on a filesystem too small for a demo."""
    result = subprocess.run(
        [sys.executable, "-m", "tools", "doctor", "--for", "demo"],
        cwd=REPO_ROOT,
        env={**os.environ, "CF_BUILD_DIR": str(small_mount / "build")},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    output = result.stdout + result.stderr
    assert f"doctor: 0.0 GiB free under {small_mount}" in output
    assert "Traceback" not in output
