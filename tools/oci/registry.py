"""The local OCI registry: Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1.

Not Debian's own service (its config wants auth and listens on every interface, and there is no
systemd here): we write a config with storage under ``.build/registry``, deletes enabled and the
listener on loopback only, start the process ourselves and keep its pid and port in a state file.
``start`` is idempotent; a port held by anything else is a clear error, never a second registry.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tools.errors import UserError
from tools.paths import build_dir

DEFAULT_PORT = 5000
_CONFIG = """\
# Written by python -m tools registry start: a throwaway local registry, loopback only.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


@dataclass
class RegistryState:
    pid: int
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def default_state_dir() -> Path:
    return build_dir() / "registry"


def _state_file(state_dir: Path) -> Path:
    return state_dir / "registry.json"


def _alive(pid: int) -> bool:
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


def _answers_v2(port: int) -> bool:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1.0)
    except httpx.HTTPError:
        return False
    return response.status_code in (200, 401) and "registry/2.0" in response.headers.get(
        "docker-distribution-api-version", ""
    )


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def status(state_dir: Path | None = None) -> RegistryState | None:
    """The running registry this repo started, or None."""
    state_file = _state_file(state_dir or default_state_dir())
    try:
        data = json.loads(state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    state = RegistryState(pid=int(data["pid"]), port=int(data["port"]))
    if _alive(state.pid) and _answers_v2(state.port):
        return state
    return None


def start(port: int = DEFAULT_PORT, state_dir: Path | None = None, timeout: float = 15.0) -> RegistryState:
    state_dir = state_dir or default_state_dir()
    running = status(state_dir)
    if running is not None:
        if running.port != port:
            raise UserError(f"the local registry already runs on port {running.port}; stop it first")
        return running
    if not 0 < port < 65536:
        raise UserError(f"port {port} is not a TCP port")
    if _port_in_use(port):
        raise UserError(f"port {port} on 127.0.0.1 is taken by another process; pick one with --port")
    binary = shutil.which("docker-registry")
    if binary is None:
        raise UserError("docker-registry is not installed (apt-get install docker-registry)")
    storage = state_dir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = state_dir / "config.yml"
    config.write_text(_CONFIG.format(storage=storage, port=port))
    log_path = state_dir / "registry.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [binary, "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this command, like a daemon
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise UserError(f"docker-registry exited with {process.returncode}: {tail[0]}", file=log_path)
        if _answers_v2(port):
            state = RegistryState(pid=process.pid, port=port)
            _state_file(state_dir).write_text(json.dumps({"pid": state.pid, "port": state.port}) + "\n")
            return state
        time.sleep(0.1)
    process.terminate()
    raise UserError(
        f"docker-registry did not answer on 127.0.0.1:{port} within {timeout:.0f} s", file=log_path
    )


def stop(state_dir: Path | None = None, timeout: float = 10.0) -> bool:
    """Stops the registry this repo started; False when none was running."""
    state_dir = state_dir or default_state_dir()
    state_file = _state_file(state_dir)
    try:
        pid = int(json.loads(state_file.read_text())["pid"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return False
    stopped = False
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        stopped = True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when we are its parent (tests)
    state_file.unlink(missing_ok=True)
    return stopped
