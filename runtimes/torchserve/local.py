"""The real launcher and TorchServe on free loopback ports: what tests and the benchmark start.

It runs the same command the image runs (``python -m runtimes.torchserve.launcher``) with
``--address 127.0.0.1``, three free ports, a private work dir and ``--torch-shim always``, so the
worker imports exactly what it imports in the torch-less image even where torch is installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from runtimes.torchserve.launcher import PORTS
from tools.paths import REPO_ROOT
from tools.testing.ports import free_port


def _die_with_parent() -> None:
    # If the test run dies, the kernel stops the launcher too (which stops TorchServe).
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class TorchServeProcess:
    """``with TorchServeProcess(store, ["yolo=yolo.mar"], work_dir) as server:`` (ready on entry)."""

    def __init__(self, model_store: Path, models: list[str], work_dir: Path, *, extra_args: tuple = ()):
        self.model_store = Path(model_store)
        self.models = list(models)
        self.work_dir = Path(work_dir)
        self.ports = {api: free_port() for api in PORTS}
        self.extra_args = tuple(extra_args)
        self.log_path = self.work_dir / "launcher.log"
        self.process: subprocess.Popen | None = None

    def url(self, api: str) -> str:
        return f"http://127.0.0.1:{self.ports[api]}"

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "runtimes.torchserve.launcher",
            "--model-store",
            str(self.model_store),
        ]
        command += [
            "--address",
            "127.0.0.1",
            "--work-dir",
            str(self.work_dir / "run"),
            "--torch-shim",
            "always",
        ]
        for api, port in self.ports.items():
            command += [f"--{api}-port", str(port)]
        if self.models:
            command += ["--models", *self.models]
        return command + list(self.extra_args)

    def start(self) -> TorchServeProcess:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        return self

    def log(self, tail: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-tail:])

    def get_json(self, api: str, path: str, timeout: float = 5.0):
        with urllib.request.urlopen(self.url(api) + path, timeout=timeout) as response:
            return json.loads(response.read())

    def workers_ready(self, model: str) -> int:
        described = self.get_json("management", f"/models/{model}")
        return sum(w["status"] == "READY" for version in described for w in version["workers"])

    def wait_ready(self, timeout: float = 180.0) -> TorchServeProcess:
        """Until /ping is healthy and every model given at start has a READY worker."""
        names = [m.split("=", 1)[0].removesuffix(".mar") for m in self.models]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"launcher exited with {self.process.returncode}:\n{self.log()}")
            try:
                if self.get_json("inference", "/ping").get("status") == "Healthy" and all(
                    self.workers_ready(name) > 0 for name in names
                ):
                    return self
            except (urllib.error.URLError, OSError, ValueError, KeyError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"TorchServe was not ready after {timeout:.0f}s:\n{self.log()}")

    def stop(self, timeout: float = 90.0) -> int:
        """SIGTERM, as the kubelet sends; the exit code (SIGKILL and -9 if it hangs)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> TorchServeProcess:
        try:
            return self.start().wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
