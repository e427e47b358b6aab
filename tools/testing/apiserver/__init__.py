"""A real Kubernetes API server for tests: Debian's etcd plus a kube-apiserver built from source.

``running_apiserver(workdir)`` starts etcd (fresh data dir) and kube-apiserver on free loopback
ports, with a self-signed serving certificate, service-account keys, a bearer-token admin, extra
token users if asked for, a client CA (``ApiServer.client_certificate`` signs x509 client
certificates) and RBAC, waits for ``/readyz`` and writes a kubeconfig; leaving the ``with`` block
stops both. ``ApiServer.kill``/``start`` crash and restart the API server on the same etcd. There is no
controller-manager or scheduler: objects are stored and validated, but nothing ever runs, so
Deployments never become ready and a deleted Namespace stays Terminating (each session gets a fresh
etcd, so that never leaks between runs).

Build the binary first with ``tools/testing/apiserver/build.sh`` (see ``BUILD_COMMAND``).
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.paths import REPO_ROOT, build_dir
from tools.testing.ports import free_port

BUILD_COMMAND = "tools/testing/apiserver/build.sh"
CONTEXT = "cf-test"
READY_TIMEOUT_S = 60.0


class ApiServerUnavailable(Exception):
    """The binaries are not there; the message says which command builds them."""


@dataclass
class ApiServer:
    """Where the running server is, who may call it, and how a test kills and restarts it."""

    url: str
    kubeconfig: Path
    context: str
    token: str  # cf-admin, in system:masters
    ca_file: Path  # the serving certificate (self-signed): what clients trust
    unprivileged_token: str  # an authenticated user with no RBAC grants: for "forbidden" tests
    client_ca: tuple[Path, Path]  # (cert, key) of the CA --client-ca-file trusts: client certificates
    tokens: dict[str, str]  # user -> bearer token of the ``users`` asked for at start
    _process: _Supervised

    @property
    def pid(self) -> int | None:
        """The kube-apiserver's process id while it runs."""
        return self._process.pid

    def kill(self) -> None:
        """SIGKILL, as a crash would; etcd keeps running, so ``start`` brings back the same state."""
        self._process.kill()

    def start(self) -> None:
        """Starts the server again on the same port, certificates and etcd; waits for /readyz."""
        self._process.start()

    def client_certificate(self, user: str, groups: tuple[str, ...], directory: Path) -> tuple[Path, Path]:
        """A client certificate (CN=user, O=group per group) signed by the client CA: (cert, key)."""
        directory.mkdir(parents=True, exist_ok=True)
        crt, key, csr = (directory / f"{user}.{ext}" for ext in ("crt", "key", "csr"))
        subject = f"/CN={user}" + "".join(f"/O={group}" for group in groups)
        _openssl(
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", key, "-out", csr
        )
        _openssl("x509", "-req", "-in", csr, "-CA", self.client_ca[0], "-CAkey", self.client_ca[1],
                 "-CAcreateserial", "-days", "1", "-out", crt)  # fmt: skip
        return crt, key

    def write_kubeconfig(self, path: Path, user: dict) -> Path:
        """A kubeconfig for this server whose one user entry is ``user`` (token, certs or exec)."""
        config = _kubeconfig(self.url, self.ca_file, user)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path


def apiserver_binary() -> Path:
    """Where build.sh puts kube-apiserver (``KUBE_APISERVER`` overrides, for a binary built elsewhere)."""
    return Path(os.environ.get("KUBE_APISERVER") or build_dir() / "apiserver" / "bin" / "kube-apiserver")


def missing_binaries() -> str | None:
    """Why the server cannot start here, or None when both binaries are present."""
    problems = []
    if not os.access(apiserver_binary(), os.X_OK):
        problems.append(f"no kube-apiserver at {apiserver_binary()}")
    if shutil.which("etcd") is None:
        problems.append("no etcd on PATH")
    if not problems:
        return None
    return f"{' and '.join(problems)}: run `{BUILD_COMMAND}` (from {REPO_ROOT}) to build/install them"


@contextmanager
def running_apiserver(
    workdir: Path, *, users: dict[str, tuple[str, ...]] | None = None
) -> Iterator[ApiServer]:
    """Starts etcd + kube-apiserver under ``workdir`` and yields where to reach them.

    ``users``: extra bearer-token users (name -> groups), their tokens in ``ApiServer.tokens``.
    """
    problem = missing_binaries()
    if problem:
        raise ApiServerUnavailable(problem)
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        etcd_url = stack.enter_context(_etcd(workdir))
        yield stack.enter_context(_kube_apiserver(workdir, etcd_url, users or {}))


@contextmanager
def _etcd(workdir: Path) -> Iterator[str]:
    client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    data_dir = workdir / "etcd-data"
    shutil.rmtree(data_dir, ignore_errors=True)  # a fresh store every time: no leftovers
    command = [
        "etcd",
        "--name=cf-test",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=cf-test={peer}",
        "--log-level=warn",
    ]
    with _process(command, workdir / "etcd.log") as process:
        _wait_until(lambda: _get(f"{client}/health") == 200, "etcd /health", process, workdir / "etcd.log")
        yield client


@contextmanager
def _kube_apiserver(workdir: Path, etcd_url: str, users: dict[str, tuple[str, ...]]) -> Iterator[ApiServer]:
    port = free_port()
    tls_crt, tls_key, sa_key, sa_pub = (workdir / n for n in ("tls.crt", "tls.key", "sa.key", "sa.pub"))
    client_ca = (workdir / "client-ca.crt", workdir / "client-ca.key")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", tls_key, "-out", tls_crt)  # fmt: skip
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=cf-test-client-ca",
             "-keyout", client_ca[1], "-out", client_ca[0])  # fmt: skip
    _openssl("genrsa", "-out", sa_key, "2048")
    _openssl("rsa", "-in", sa_key, "-pubout", "-out", sa_pub)
    token, unprivileged = secrets.token_hex(16), secrets.token_hex(16)
    tokens = {name: secrets.token_hex(16) for name in users}
    rows = [f'{token},cf-admin,cf-admin,"system:masters"', f"{unprivileged},cf-nobody,cf-nobody"]
    rows += [f'{tokens[name]},{name},{name},"{",".join(groups)}"' for name, groups in users.items()]
    token_file = workdir / "tokens.csv"
    token_file.write_text("\n".join(rows) + "\n")
    token_file.chmod(0o600)
    command = [
        str(apiserver_binary()),
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--insecure-port=0",  # v1.20 still has the unauthenticated port: keep it closed
        f"--cert-dir={workdir / 'certs'}",
        f"--tls-cert-file={tls_crt}",
        f"--tls-private-key-file={tls_key}",
        f"--client-ca-file={client_ca[0]}",  # x509 client certificates: CN is the user, O the groups
        f"--token-auth-file={token_file}",
        "--anonymous-auth=false",
        "--authorization-mode=RBAC",
        f"--service-account-key-file={sa_pub}",
        f"--service-account-signing-key-file={sa_key}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-cluster-ip-range=10.96.0.0/16",  # a config value only: no proxy runs
        "--profiling=false",
        "--logtostderr=true",
        "--v=1",
    ]
    url = f"https://127.0.0.1:{port}"
    ready = lambda: _get(f"{url}/readyz", token=token, ca_file=tls_crt) == 200  # noqa: E731
    process = _Supervised(command, workdir / "kube-apiserver.log", ready, "kube-apiserver /readyz")
    process.start()
    try:
        kubeconfig = workdir / "kubeconfig"
        server = ApiServer(url, kubeconfig, CONTEXT, token, tls_crt, unprivileged, client_ca, tokens, process)
        server.write_kubeconfig(kubeconfig, {"name": "cf-admin", "user": {"token": token}})
        yield server
    finally:
        process.stop()


def _kubeconfig(url: str, ca_file: Path, user: dict) -> dict:
    ca_data = base64.b64encode(ca_file.read_bytes()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url, "certificate-authority-data": ca_data}}],
        "users": [user],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user["name"]}}],
        "current-context": CONTEXT,
    }


class _Supervised:
    """A server process that can be started, killed and started again with the same command."""

    def __init__(self, command: list[str], log: Path, ready, what: str):
        self.command, self.log, self.ready, self.what = command, log, ready, what
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        _wait_until(self.ready, self.what, self.process, self.log)

    def kill(self) -> None:
        if self.pid is not None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.pid is not None:
            _terminate(self.process)


@contextmanager
def _process(command: list[str], log: Path) -> Iterator[subprocess.Popen]:
    """Runs ``command`` with output in ``log``; stops it with SIGTERM (SIGKILL after 15 s)."""
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            _terminate(process)


def _terminate(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 15 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until(check, what: str, process: subprocess.Popen, log: Path) -> None:
    """Polls ``check`` until it passes; fails at once, with the log's tail, if the process exits."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        if check():
            return
        time.sleep(0.2)
    state = f"exited with {process.returncode}" if process.poll() is not None else "timed out"
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise RuntimeError(f"{what}: {state} before ready; last lines of {log}:\n{tail}")


def _get(url: str, *, token: str | None = None, ca_file: Path | None = None) -> int | None:
    """The HTTP status of a GET, or None while nothing answers yet."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ssl.SSLError):
        return None


def _openssl(*args) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
