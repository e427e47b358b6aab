"""`./dev rehearse` removes the roots that interrupted runs left behind (a killed run never reaches
its cleanup and leaves ~17 GB and its mounts in /var/tmp), and only those: a running rehearsal's
root and a --keep'd one stay. Real mounts, a real process inside a root, the real script."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.paths import REPO_ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="it mounts and chroots: root only, as CI runs")
SCRIPT = REPO_ROOT / "tools" / "setup" / "rehearse.sh"


def mounts_under(path: Path) -> list[str]:
    return [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1] == str(path) or line.split()[1].startswith(f"{path}/")
    ]


@pytest.fixture
def roots_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for mount in sorted((m for m in mounts_under(tmp_path)), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def make_root(roots_dir: Path, name: str, owner_pid: int | None) -> Path:
    root = roots_dir / f"rehearsal-root.{name}"
    (root / "proc").mkdir(parents=True)
    (root / "src").mkdir()
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(root / "src")], check=True)
    (root / "src" / "weights.bin").write_bytes(b"x" * 1024)
    if owner_pid is not None:
        Path(f"{root}.pid").write_text(f"{owner_pid}\n")
    return root


def clean(roots_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), "--clean"],
        cwd=REPO_ROOT,
        env={**os.environ, "REHEARSE_ROOTS_DIR": str(roots_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_an_interrupted_runs_root_is_unmounted_and_deleted(roots_dir: Path) -> None:
    stale = make_root(roots_dir, "STALE1", dead_pid())
    # A process still running in a root inside it, as a pod the killed run left would be.
    (stale / "container").mkdir()
    subprocess.run(["mount", "--bind", "/", str(stale / "container")], check=True)
    sleeper = subprocess.Popen(["chroot", str(stale / "container"), "sleep", "300"])
    legacy = make_root(roots_dir, "LEGACY", None)  # from before roots recorded their owner
    try:
        result = clean(roots_dir)
        assert sleeper.wait(timeout=30) != 0  # stopped by the cleanup
    finally:
        sleeper.kill()
    assert result.returncode == 0, result.stderr
    assert f"removing {stale}, left by an interrupted rehearsal" in result.stderr
    for root in (stale, legacy):
        assert not root.exists()
        assert mounts_under(root) == []
        assert not Path(f"{root}.pid").exists()


def test_a_running_and_a_kept_root_stay(roots_dir: Path) -> None:
    running = make_root(roots_dir, "RUNNING", os.getpid())
    kept = make_root(roots_dir, "KEPT", None)
    Path(f"{kept}.kept").touch()
    result = clean(roots_dir)
    assert result.returncode == 0, result.stderr
    assert "removing" not in result.stderr
    for root in (running, kept):
        assert (root / "src" / "weights.bin").read_bytes() == b"x" * 1024
        assert len(mounts_under(root)) == 2
