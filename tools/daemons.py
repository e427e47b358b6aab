"""Background servers that outlive the command that starts them: the local registry, the local
Prometheus, the models' front proxies on podman. One way to start them (wait until ready, or fail
with the log's last line), to tell whether a recorded pid is still theirs (a pid file outlives its
process, and the kernel hands the number to whatever starts next), and to stop them (TERM, then
KILL, then reap).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tools.errors import UserError


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists": look at its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def argv(pid: int) -> list[str]:
    """The process's command line, or [] when it is gone or unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def command_line(pid: int) -> str:
    return " ".join(argv(pid)) or "unknown"


def port_in_use(port: int) -> bool:
    """True when something already listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def start(
    command: Sequence[str],
    log_path: Path,
    ready: Callable[[], bool],
    *,
    name: str,
    timeout: float,
    poll: float = 0.1,
    cwd: Path | None = None,
) -> int:
    """Starts ``command`` in its own session (it outlives this command), appending its output to
    ``log_path``, and returns its pid once ``ready()`` is true. A process that exits first, or is
    not ready in time, is a UserError naming the log and its last line."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=cwd,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise UserError(f"{name} exited with {process.returncode}: {tail[0]}", file=log_path)
        if ready():
            return process.pid
        time.sleep(poll)
    process.terminate()
    raise UserError(f"{name} did not get ready within {timeout:.0f} s", file=log_path)


def stop(pid: int, timeout: float) -> bool:
    """TERM, wait up to ``timeout``, then KILL; False when it was already gone."""
    if not alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it when we are its parent (tests)
    return True
