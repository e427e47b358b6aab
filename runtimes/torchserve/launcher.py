"""Runs TorchServe 0.12 (PyPI ``torchserve``, Java 17) as a container's PID 1, and drains on SIGTERM.

``python -m runtimes.torchserve.launcher --model-store /models --models yolo=yolo.mar`` is the
image's entry point. It

1. reads ``config.properties`` beside this file and overrides only what this run must change
   (ports and bind addresses for tests, the model store, the models to load), writing the result
   into a work dir under ``$TMPDIR`` (the root file system is read-only);
2. starts TorchServe's own CLI in the foreground (``torchserve --start --foreground --ncs``), with
   ``TMPDIR``, ``HOME`` and ``java.io.tmpdir`` in that work dir (the pid file, unpacked archives and
   worker sockets go there) and logging to stdout only (``log4j2.xml``);
3. stays PID 1 itself, because TorchServe has no drain of its own: on SIGTERM its JVM closes every
   connection at once (seen here: a request in flight gets no answer), and its CLI, were it PID 1,
   would ignore SIGTERM altogether (the kernel drops default-action signals sent to a namespace's
   init). So on SIGTERM or SIGINT the launcher keeps TorchServe serving until no inference request
   has arrived for ``--drain-quiet-seconds`` and no job is queued (read from TorchServe's own metrics
   and management API, on loopback), at most ``--drain-timeout`` seconds, then sends SIGTERM to the
   JVM as ``torchserve --stop`` does, waits for the CLI to return and exits 0. If TorchServe stops
   without being asked, the launcher exits 1: a crashed server must not look like a clean stop.

Exit codes: 0 stopped on request, 1 TorchServe stopped by itself, 2 bad arguments (``error: ...``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tools.errors import UserError

log = logging.getLogger("runtimes.torchserve")

HERE = Path(__file__).resolve().parent
CONFIG_FILE = HERE / "config.properties"
LOG_CONFIG = HERE / "log4j2.xml"
NO_TORCH_DIR = HERE / "no_torch"  # see no_torch/torch/__init__.py
PORTS = {"inference": 8080, "management": 8081, "metrics": 8082}  # runtime.yaml names the same
_MODEL_ARG = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*=)?[A-Za-z0-9][A-Za-z0-9_.-]*\.mar$")


def read_properties(text: str) -> dict[str, str]:
    """``key=value`` lines, as TorchServe's own ``ts.model_server.load_properties`` reads them."""
    props = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


@dataclass(frozen=True)
class ServeOptions:
    """One TorchServe run. ``address=None`` keeps config.properties' bind addresses (the pod's)."""

    model_store: Path
    models: tuple[str, ...] = ()  # "name=file.mar" or "file.mar"; empty: load none at start
    address: str | None = None
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))
    work_dir: Path | None = None
    torch_shim: str = "auto"  # auto: only when no real torch is importable; always; never
    drain_quiet_seconds: float = 2.0
    drain_timeout: float = 20.0
    enable_model_api: bool = False  # registering models over HTTP: tests only, off in pods
    base_config: Path = CONFIG_FILE

    def check(self) -> None:
        if not self.model_store.is_dir():
            raise UserError(f"{self.model_store} is not a directory", field="--model-store")
        for model in self.models:
            if not _MODEL_ARG.match(model):
                raise UserError(f"{model!r} is not NAME=FILE.mar or FILE.mar", field="--models")
            archive = self.model_store / model.split("=", 1)[-1]
            if not archive.is_file():
                raise UserError(f"no archive {archive} in the model store", field="--models")
        if set(self.ports) != set(PORTS) or len(set(self.ports.values())) != len(PORTS):
            raise UserError(f"need three distinct ports for {', '.join(PORTS)}", field="ports")
        if self.torch_shim not in ("auto", "always", "never"):
            raise UserError(f"{self.torch_shim!r}: use auto, always or never", field="--torch-shim")
        if shutil.which("java", path=self.path_with_java()) is None:
            raise UserError(
                "java is not on PATH and JAVA_HOME is not set; TorchServe's frontend needs Java 17"
            )

    def path_with_java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        parts = [f"{java_home}/bin"] if java_home else []
        return os.pathsep.join([*parts, os.environ.get("PATH", os.defpath)])

    def resolved_work_dir(self) -> Path:
        return self.work_dir or Path(tempfile.gettempdir()) / "torchserve"

    def config(self) -> dict[str, str]:
        props = read_properties(self.base_config.read_text(encoding="utf-8"))
        for api, port in self.ports.items():
            key = f"{api}_address"
            host = self.address or re.sub(r"^https?://|:\d+$", "", props.get(key, "127.0.0.1"))
            props[key] = f"http://{host}:{port}"
        props["model_store"] = str(self.model_store)
        props.pop("load_models", None)  # the CLI's --models decides
        return props

    def url(self, api: str) -> str:
        host = re.sub(r"^https?://|:\d+$", "", self.config()[f"{api}_address"])
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.ports[api]}"

    def shim_torch(self) -> bool:
        if self.torch_shim == "auto":
            return importlib.util.find_spec("torch") is None
        return self.torch_shim == "always"

    def prepare(self) -> tuple[list[str], dict[str, str]]:
        """Writes the run's config into the work dir; returns TorchServe's command and environment."""
        self.check()
        work = self.resolved_work_dir()
        (work / "tmp").mkdir(parents=True, exist_ok=True)
        config_path = work / "config.properties"
        lines = [f"{key}={value}" for key, value in sorted(self.config().items())]
        config_path.write_text("# written by runtimes/torchserve/launcher.py\n" + "\n".join(lines) + "\n")
        command = [sys.executable, "-m", "ts.model_server", "--start", "--foreground", "--ncs"]
        command += ["--ts-config", str(config_path), "--model-store", str(self.model_store)]
        command += ["--log-config", str(LOG_CONFIG)]
        if self.enable_model_api:
            command.append("--enable-model-api")
        if self.models:
            command += ["--models", *self.models]
        env = dict(os.environ)
        env["PATH"] = self.path_with_java()
        # The CLI writes its pid file into tempfile.gettempdir() and passes $TEMP to the JVM as
        # java.io.tmpdir, where archives are unpacked; the worker puts its socket there too.
        env["TMPDIR"] = env["TEMP"] = str(work / "tmp")
        env["HOME"] = str(work)
        env["LOG_LOCATION"] = env["METRICS_LOCATION"] = str(work / "logs")  # unused with log4j2.xml
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if self.shim_torch():
            paths.append(str(NO_TORCH_DIR))
        env["PYTHONPATH"] = os.pathsep.join(paths)
        return command, env


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def inference_requests_total(metrics_url: str) -> float:
    """Sum of TorchServe's ``ts_inference_requests_total`` over models (counted on arrival)."""
    text = _get(f"{metrics_url}/metrics").decode()
    return sum(float(m) for m in re.findall(r"^ts_inference_requests_total\{[^}]*\} (\S+)$", text, re.M))


def pending_requests(management_url: str) -> int:
    """Jobs waiting in every model's queue (``jobQueueStatus.pendingRequests`` of describe-model)."""
    names = [m["modelName"] for m in json.loads(_get(f"{management_url}/models"))["models"]]
    total = 0
    for name in names:
        for version in json.loads(_get(f"{management_url}/models/{name}")):
            total += int(version.get("jobQueueStatus", {}).get("pendingRequests", 0))
    return total


class Supervisor:
    """TorchServe's CLI as a child of this PID 1: starts it, drains and stops it on a signal."""

    def __init__(self, options: ServeOptions):
        self.options = options
        self.stop_requested = threading.Event()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command, env = self.options.prepare()
        log.info("starting TorchServe: %s", " ".join(command))
        self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)

    def request_stop(self, signum: int, _frame=None) -> None:
        log.info("got %s: draining, then stopping TorchServe", signal.Signals(signum).name)
        self.stop_requested.set()

    def drain(self) -> None:
        """Returns once no inference request arrived for the quiet period and none is queued."""
        opts = self.options
        start = last_change = time.monotonic()
        last_count: float | None = None
        unanswered = False
        while time.monotonic() - start < opts.drain_timeout:
            if self.process.poll() is not None:
                return
            try:
                count = inference_requests_total(opts.url("metrics"))
                pending = pending_requests(opts.url("management"))
            except (OSError, ValueError, KeyError) as error:
                # A JVM busy with the requests being drained can be slow to answer: stopping now
                # would cut exactly those off. Keep asking until the drain timeout.
                if not unanswered:
                    log.info("drain: TorchServe does not answer yet (%s); asking again", error)
                unanswered = True
                time.sleep(0.2)
                continue
            now = time.monotonic()
            if count != last_count:
                last_count, last_change = count, now
            elif pending == 0 and now - last_change >= opts.drain_quiet_seconds:
                log.info("drain: idle for %.1fs after %.1fs", now - last_change, now - start)
                return
            time.sleep(0.2)
        log.warning("drain: still busy after %.0fs; stopping anyway", opts.drain_timeout)

    def java_pids(self) -> list[int]:
        import psutil  # a dependency of torchserve itself

        try:
            children = psutil.Process(self.process.pid).children()
        except psutil.Error:
            return []
        return [child.pid for child in children if "org.pytorch.serve.ModelServer" in child.cmdline()]

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self.start()
        while self.process.poll() is None and not self.stop_requested.wait(0.5):
            pass
        if self.process.poll() is not None:
            _reap_orphans()
            log.error("TorchServe stopped by itself (exit %s); see its log above", self.process.returncode)
            return 1
        self.drain()
        for pid in self.java_pids():  # what `torchserve --stop` does: terminate the JVM
            os.kill(pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            log.warning("TorchServe did not stop within 60s; killing it")
            for pid in self.java_pids():
                os.kill(pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait()
        _reap_orphans()
        log.info("TorchServe stopped")
        return 0


def _reap_orphans() -> None:
    """As PID 1 this process inherits the workers if the JVM dies first: collect them."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runtimes.torchserve.launcher", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model-store", type=Path, required=True, help="directory of .mar archives")
    parser.add_argument("--models", nargs="*", default=[], help="NAME=FILE.mar to load at start")
    parser.add_argument("--address", help="bind all three APIs here (default: config.properties' addresses)")
    for api, port in PORTS.items():
        parser.add_argument(f"--{api}-port", type=int, default=port)
    parser.add_argument("--work-dir", type=Path, help="writable dir for config, pid file, unpacked models")
    parser.add_argument(
        "--torch-shim", default="auto", help="put no_torch/ on the worker's path: auto|always|never"
    )
    parser.add_argument("--drain-quiet-seconds", type=float, default=2.0)
    parser.add_argument("--drain-timeout", type=float, default=20.0)
    parser.add_argument("--enable-model-api", action="store_true", help="allow registering models (tests)")
    parser.add_argument("--dry-run", action="store_true", help="write the config, print the command, exit")
    return parser


def options_from_args(args: argparse.Namespace) -> ServeOptions:
    return ServeOptions(
        model_store=args.model_store,
        models=tuple(args.models),
        address=args.address,
        ports={api: getattr(args, f"{api}_port") for api in PORTS},
        work_dir=args.work_dir,
        torch_shim=args.torch_shim,
        drain_quiet_seconds=args.drain_quiet_seconds,
        drain_timeout=args.drain_timeout,
        enable_model_api=args.enable_model_api,
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [launcher] %(message)s")
    args = _parser().parse_args(argv)
    options = options_from_args(args)
    try:
        if args.dry_run:
            command, env = options.prepare()
            print(" ".join(command))
            print(f"PYTHONPATH={env['PYTHONPATH']}")
            return 0
        return Supervisor(options).run()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return UserError.exit_code


if __name__ == "__main__":
    sys.exit(main())
