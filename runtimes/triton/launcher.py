"""Runs the real tritonserver shipped in the nvidia-pytriton wheel (CPU, Python backend only).

One launcher for every place gpt2 is served from this repo: the local image's entrypoint, the
local environment, the tests and the benchmark. It does what pytriton itself does before starting
the server:

1. Prepare a server directory: copy ``pytriton/tritonserver`` out of site-packages and put the
   backend stub built for this interpreter (``python_backend_stubs/3.11/``) into
   ``backends/python/``, where the Python backend looks for it. The copy is made once per
   nvidia-pytriton version (a ``.prepared`` stamp) and atomically, so parallel starts are safe. In
   an image with a read-only root filesystem it is prepared at build time (``--prepare-only``) or
   under /tmp (``--server-dir`` / ``$TRITON_SERVER_DIR``).
2. Environment: this interpreter's bin directory first on PATH (the stub runs ``python3`` and takes
   numpy from it: with numpy 2 inference silently returns wrong-sized tensors); LD_LIBRARY_PATH
   with ``nvidia_pytriton.libs`` (libcudart and friends, else the server cannot start) and the
   interpreter's LIBDIR (libpython for the stub).
3. Start ``bin/tritonserver`` with explicit addresses and ports.

``python -m runtimes.triton.launcher --model-repository R`` prepares and then *execs* tritonserver:
the server gets this process's PID, so SIGTERM from the kubelet (or a test) reaches Triton itself,
which drains in-flight requests and exits 0. The container form is
``--model-repository=/models --address=0.0.0.0`` with the default ports 8000/8001/8002.
``TritonServer`` is the same thing as a managed child process, for tests and the benchmark.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tools.errors import UserError

log = logging.getLogger(__name__)

PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
STUB_NAME = "triton_python_backend_stub"
PREPARED_STAMP = ".prepared"
SERVER_DIR_ENV = "TRITON_SERVER_DIR"
SYSTEM_SHELL = "/bin/sh"  # what libc's system() runs
# tritonserver's own default: after SIGTERM it waits this long for in-flight requests and open
# connections before it exits anyway. Pod termination grace periods must be longer.
EXIT_TIMEOUT_SECONDS = 30


def _pytriton_version() -> str:
    try:
        return importlib.metadata.version("nvidia-pytriton")
    except importlib.metadata.PackageNotFoundError:
        raise UserError(
            f"nvidia-pytriton is not installed for {sys.executable}; it ships the tritonserver binary "
            "(install the dev venv: ./dev setup)"
        ) from None


def pytriton_paths() -> tuple[Path, Path]:
    """``(tritonserver dir, bundled libs dir)`` inside the installed nvidia-pytriton wheel."""
    _pytriton_version()
    # find_spec, not import: the pytriton package imports much more than we need.
    package_dir = Path(importlib.util.find_spec("pytriton").submodule_search_locations[0])
    return package_dir / "tritonserver", package_dir.parent / "nvidia_pytriton.libs"


def default_server_dir() -> Path:
    """Where the prepared server lives unless told: ``$TRITON_SERVER_DIR`` or a versioned /tmp dir."""
    if os.environ.get(SERVER_DIR_ENV):
        return Path(os.environ[SERVER_DIR_ENV])
    return Path(tempfile.gettempdir()) / f"tritonserver-pytriton-{_pytriton_version()}-py{PYTHON_VERSION}"


def prepare_server_dir(dest: Path) -> Path:
    """Makes ``dest`` a runnable tritonserver tree (idempotent, atomic); returns ``dest``."""
    stamp = f"nvidia-pytriton {_pytriton_version()} python {PYTHON_VERSION}\n"
    stamp_file = dest / PREPARED_STAMP
    if stamp_file.is_file() and stamp_file.read_text() == stamp:
        _check_trusted(dest)
        return dest
    if dest.exists() and not stamp_file.is_file() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(
            f"{dest} exists but is not a prepared tritonserver directory; pick an empty or new path",
            field="--server-dir",
        )
    source, _ = pytriton_paths()
    stub = source / "python_backend_stubs" / PYTHON_VERSION / STUB_NAME
    if not stub.is_file():
        raise UserError(f"nvidia-pytriton has no Python backend stub for Python {PYTHON_VERSION} ({stub})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        tree = staging / "tritonserver"
        # The other Pythons' stubs are dead weight in the copy (and in an image layer).
        shutil.copytree(source, tree, ignore=shutil.ignore_patterns("python_backend_stubs", "__pycache__"))
        shutil.copy2(stub, tree / "backends" / "python" / STUB_NAME)
        (tree / PREPARED_STAMP).write_text(stamp)
        if dest.exists():  # empty, or an older version's copy: ours to replace (it has our stamp)
            shutil.rmtree(dest)
        try:
            tree.rename(dest)
        except OSError:
            if not (stamp_file.is_file() and stamp_file.read_text() == stamp):
                raise  # not a parallel start that finished first: a real failure
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("prepared tritonserver in %s", dest)
    return dest


def _check_trusted(server_dir: Path) -> None:
    """The default tree lives in a shared /tmp: run binaries only from one root or this user made."""
    info = server_dir.stat()
    if info.st_uid not in (0, os.getuid()) or info.st_mode & 0o022:
        raise UserError(
            f"{server_dir} belongs to uid {info.st_uid} or is writable by others; not running its "
            "tritonserver (remove it, or choose another --server-dir)",
            field="--server-dir",
        )


@dataclass(frozen=True)
class LaunchOptions:
    """Everything tritonserver is started with; ``command()`` and ``environment()`` spell it out."""

    model_repository: Path
    address: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    server_dir: Path | None = None  # None: default_server_dir()
    model_config_name: str | None = None  # Triton's configs/<name>.pbtxt override, if any
    log_verbose: int = 0
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    @property
    def resolved_server_dir(self) -> Path:
        return self.server_dir or default_server_dir()

    def command(self) -> list[str]:
        server_dir = self.resolved_server_dir
        args = [
            str(server_dir / "bin" / "tritonserver"),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={server_dir / 'backends'}",
            f"--cache-directory={server_dir / 'caches'}",
            f"--http-address={self.address}",
            f"--http-port={self.http_port}",
            f"--grpc-address={self.address}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-address={self.address}",
            f"--metrics-port={self.metrics_port}",
            "--allow-metrics=true",
            # Latency quantiles (nv_inference_request_summary_us): Triton has no request latency
            # histogram, and the dashboards and latency alert need p50/p90/p99 (observability.yaml).
            "--metrics-config=summary_latencies=true",
            # Ready only when every model is: the readiness probe then means "can serve gpt2".
            "--strict-readiness=true",
            # A model that fails to load stops the server with its error, instead of a server
            # that is up but never ready.
            "--exit-on-error=true",
            f"--exit-timeout-secs={EXIT_TIMEOUT_SECONDS}",
            f"--log-verbose={self.log_verbose}",
        ]
        if self.model_config_name:
            args.append(f"--model-config-name={self.model_config_name}")
        return args + list(self.extra_args)

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        _, libs_dir = pytriton_paths()
        interpreter_bin = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join(p for p in (interpreter_bin, env.get("PATH", "")) if p)
        lib_dirs = [str(libs_dir), sysconfig.get_config_var("LIBDIR") or "", env.get("LD_LIBRARY_PATH", "")]
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in lib_dirs if p)
        return env

    def checked_environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``environment()``, refusing one the Python backend cannot start its stubs in."""
        env = self.environment(base)
        # The backend starts each model's stub with execvp("bash", ...) (python_backend's
        # stub_launcher.cc). Seen here without bash: "Failed to run python backend stub. Errno = 2",
        # and the server then hangs, never ready and never exiting.
        if shutil.which("bash", path=env["PATH"]) is None:
            raise UserError(
                f"bash is not on PATH ({env['PATH']}); Triton's Python backend starts its stubs with it"
            )
        # Before that it probes the stub with system(), i.e. /bin/sh; if the probe fails it chmods
        # the stub to owner-execute only, which fails on a read-only root filesystem.
        if not Path(SYSTEM_SHELL).exists():
            raise UserError(
                f"{SYSTEM_SHELL} is missing; Triton's Python backend runs system() before each stub"
            )
        return env

    @property
    def http_url(self) -> str:
        return f"http://{_client_host(self.address)}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"grpc://{_client_host(self.address)}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{_client_host(self.address)}:{self.metrics_port}/metrics"


def _client_host(address: str) -> str:
    return "127.0.0.1" if address in ("0.0.0.0", "") else address


def _die_with_parent() -> None:
    # As pytriton does: if the test run or benchmark dies, the kernel stops the server too,
    # instead of leaving it holding its ports.
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class TritonServer:
    """tritonserver as a managed child process: ``with TritonServer(opts, log_file=...) as server:``."""

    def __init__(self, options: LaunchOptions, *, log_file: Path | None = None):
        self.options = options
        self.log_file = log_file or Path(tempfile.mkstemp(prefix="tritonserver-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("tritonserver is not started")
        return self.process.pid

    def start(self) -> TritonServer:
        prepare_server_dir(self.options.resolved_server_dir)
        with self.log_file.open("ab") as log_out:
            self.process = subprocess.Popen(
                self.options.command(),
                env=self.options.checked_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log_out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        return self

    def log_errors(self, limit: int = 20) -> str:
        """The server's error lines (Triton prefixes them with ``E``) and its last line."""
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        lines = text.splitlines()
        # Harmless without a GPU: every CPU start logs these.
        noise = ("CudaDriverHelper", "NVML", "DCGM")
        errors = [line for line in lines if line.startswith("E") and not any(n in line for n in noise)]
        return "\n".join(errors[-limit:] + lines[-1:])

    def wait_ready(self, timeout: float = 120.0) -> TritonServer:
        """Polls ``/v2/health/ready``; a server that exits or never gets ready raises ``UserError``."""
        url = f"{self.options.http_url}/v2/health/ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UserError(
                    f"tritonserver exited with code {self.process.returncode} before it was ready "
                    f"(log {self.log_file}):\n{self.log_errors()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise UserError(
            f"tritonserver was not ready after {timeout:.0f}s (log {self.log_file}):\n{self.log_errors()}"
        )

    def stop(self, timeout: float = EXIT_TIMEOUT_SECONDS + 10) -> int:
        """SIGTERM (Triton drains and exits), SIGKILL only if it hangs; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("tritonserver ignored SIGTERM for %.0fs; killing pid %d", timeout, self.pid)
            self.process.kill()
            return self.process.wait()

    def __enter__(self) -> TritonServer:
        try:
            return self.start().wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runtimes.triton.launcher",
        description="Prepare and exec the tritonserver from nvidia-pytriton (it keeps this PID).",
    )
    parser.add_argument(
        "--model-repository", type=Path, help="Triton model repository (/models in the image)"
    )
    parser.add_argument("--address", default="127.0.0.1", help="bind address for HTTP, gRPC and metrics")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument(
        "--server-dir",
        type=Path,
        help=f"where the runnable server tree is prepared (default: ${SERVER_DIR_ENV} or a /tmp dir)",
    )
    parser.add_argument(
        "--model-config-name", help="use configs/<name>.pbtxt of each model (Triton's option)"
    )
    parser.add_argument("--log-verbose", type=int, default=0)
    parser.add_argument(
        "--prepare-only", action="store_true", help="prepare --server-dir and exit (image build)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the command and environment, do not start"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parser().parse_args(argv)
    try:
        if args.prepare_only:
            print(prepare_server_dir(args.server_dir or default_server_dir()))
            return 0
        if args.model_repository is None:
            raise UserError("--model-repository is required")
        if not args.model_repository.is_dir():
            raise UserError(
                f"model repository {args.model_repository} is not a directory", field="--model-repository"
            )
        options = LaunchOptions(
            model_repository=args.model_repository.resolve(),
            address=args.address,
            http_port=args.http_port,
            grpc_port=args.grpc_port,
            metrics_port=args.metrics_port,
            server_dir=args.server_dir,
            model_config_name=args.model_config_name,
            log_verbose=args.log_verbose,
        )
        command, env = options.command(), options.checked_environment()
        if args.dry_run:
            print(" ".join(command))
            print(f"PATH={env['PATH']}\nLD_LIBRARY_PATH={env['LD_LIBRARY_PATH']}")
            return 0
        prepare_server_dir(options.resolved_server_dir)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return UserError.exit_code
    log.info("exec %s", " ".join(command))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)
    return 0  # not reached: execve replaces this process


if __name__ == "__main__":
    sys.exit(main())
