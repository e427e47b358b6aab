"""Starts the real server (``python -m runtimes.fastapi``) on a free loopback port, for tests.

Used by the runtime's tests and by every model served on this runtime (models/yolo/tests).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tools.paths import REPO_ROOT
from tools.testing.nonroot import NONROOT_UID, can_run_as_nonroot, nonroot_command  # noqa: F401
from tools.testing.ports import free_port

# Variables the server reads; cleared from the inherited environment so only the test's count.
SERVER_VARIABLES = ("MODEL_", "SERVER_")


@dataclass
class ServerProcess:
    process: subprocess.Popen
    port: int
    log_path: Path
    grpc_port: int = 0

    @property
    def grpc_target(self) -> str:
        """``host:port`` of the gRPC service, as tritonclient.grpc takes it."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, timeout: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(self, path: str, status: int = 200, timeout: float = 60.0) -> None:
        """Polls ``path`` until it answers ``status``; fails with the server's log otherwise."""
        deadline = time.monotonic() + timeout
        with self.client(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
                try:
                    if client.get(path).status_code == status:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise AssertionError(f"{path} did not answer {status} within {timeout} s:\n{self.log()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as the kubelet sends; returns the exit code (killing it if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"server ignored SIGTERM for {timeout} s:\n{self.log()}") from None
        return self.process.returncode


# How the container runs it: uid 65532, read-only root, only /tmp writable (tools/testing/nonroot.py).
can_run_container_like = can_run_as_nonroot


def server_environment(settings: dict[str, str], port: int, grpc_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SERVER_VARIABLES)}
    env.update(
        {"SERVER_HOST": "127.0.0.1", "SERVER_PORT": str(port), "SERVER_GRPC_PORT": str(grpc_port), **settings}
    )
    return env


@contextmanager
def running_server(
    settings: dict[str, str],
    log_dir: Path,
    *,
    wait_for: str | None = "/health",
    container_like: bool = False,
) -> Iterator[ServerProcess]:
    """Runs the server with ``settings`` (MODEL_*/SERVER_* variables) until the block ends.

    ``container_like``: as uid 65532 on a read-only root with only /tmp writable (needs root).
    """
    port, grpc_port = free_port(), free_port()
    log_path = log_dir / f"server-{port}.log"
    command = [sys.executable, "-m", "runtimes.fastapi"]
    if container_like:
        command = nonroot_command(command)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=server_environment(settings, port, grpc_port),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, port, log_path, int(settings.get("SERVER_GRPC_PORT", grpc_port)))
    try:
        if wait_for:
            server.wait_until(wait_for)
        yield server
    finally:
        server.stop()
