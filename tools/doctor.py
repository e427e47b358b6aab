"""Prerequisites of what is about to run, checked before the first build: one line each, with a fix.

``./dev demo`` and ``./dev test`` call ``python -m tools doctor --for demo|test`` right after setup,
so a machine that lacks something (podman's pause binary, a port another program holds, a checkout
the image's user cannot read) fails in a second with what to do, not minutes later deep in podman.
Each check looks at the machine itself, never at how this project's own machines were set up.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tools import daemons
from tools.paths import REPO_ROOT, build_dir

SETUP = "run ./dev setup"
SETUP_ALL = "run ./dev setup --all"
# Where podman 4.3 looks for its pause binary (containers-common's helper_binaries_dir), then PATH.
PAUSE_DIRS = ("/usr/local/libexec/podman", "/usr/local/lib/podman", "/usr/libexec/podman", "/usr/lib/podman")
# Processes that hold a local pod's host port: the port belongs to a pod `apply` will replace.
POD_PORT_HOLDERS = {"slirp4netns", "rootlessport", "conmon", "podman", "rootlessport-ch"}
# Measured on 2026-11-30 (what a clean clone writes after setup, when doctor runs), plus ~30%:
# demo: the yolo build dir 0.3 GB, its registry copy 0.16 GB, podman's unpacked image 0.43 GB;
# test: the full `./dev test`, disk use sampled every 20 s (checkout, podman storage, TMPDIR),
# peaked 7.7 GiB above what it was when doctor ran (most of it test_reproducible's two build dirs).
# (An unmeasured 20 GiB once stopped CI on a machine with 18.8 GiB free: these are measured.)
MIN_FREE_GIB = {"demo": 2, "test": 10}


@dataclass(frozen=True)
class Problem:
    what: str
    fix: str

    def __str__(self) -> str:
        return f"doctor: {self.what}: {self.fix}"


def _binary(name: str, package: str, fix: str = SETUP) -> Iterator[Problem]:
    if shutil.which(name) is None:
        yield Problem(f"{name} not found on PATH (Debian package {package})", fix)


def check_container_runtime() -> Iterator[Problem]:
    yield from _binary("podman", "podman")
    yield from _binary("runc", "runc")
    yield from _binary("conmon", "conmon")
    pause = any(Path(d, "catatonit").is_file() for d in PAUSE_DIRS) or shutil.which("catatonit")
    if not pause:
        yield Problem(
            "podman's pause binary catatonit is missing (podman only Recommends it; no pod starts without)",
            SETUP,
        )
    if os.geteuid() != 0:
        yield Problem("not running as root: the local environment runs podman rootful", "run as root")


def check_registry_tools() -> Iterator[Problem]:
    yield from _binary("docker-registry", "docker-registry")
    yield from _binary("skopeo", "skopeo")


def _listener(port: int) -> str | None:
    """The name and pid of the process listening on 127.0.0.1:``port`` (or on any address), if any."""
    if not daemons.port_in_use(port):
        return None
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(fields[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd).removeprefix("socket:[").removesuffix("]") in inodes:
                    return f"{(proc / 'comm').read_text().strip()} (pid {proc.name})"
        except OSError:
            continue
    return "another process"


def check_ports(ports: dict[int, str]) -> Iterator[Problem]:
    """``ports``: port -> where it is configured. A port held by our own registry or pods is fine."""
    from tools.oci import registry

    ours = registry.status()
    for port, where in sorted(ports.items()):
        holder = _listener(port)
        if holder is None or (ours is not None and ours.port == port):
            continue
        if holder.split(" ", 1)[0] in POD_PORT_HOLDERS:
            continue
        yield Problem(f"port {port} ({where}) is taken by {holder}", "stop that process or change the field")


def local_ports(models: list[str] | None = None) -> dict[int, str]:
    """The loopback ports the `local` environment uses: its registry and the models' host ports."""
    from tools.k8s.schema.environments import load_environment

    env = load_environment("local")
    source = f"platform/environments/{env.name}.yaml"
    ports: dict[int, str] = {}
    host, _, port = env.registry.split("/", 1)[0].partition(":")
    if host in ("127.0.0.1", "localhost"):
        ports[int(port or 80)] = f"{source}: registry"
    for model, deployment in env.models.items():
        if models is not None and model not in models:
            continue
        for name, host_port in (deployment.hostPorts or {}).items():
            ports[int(host_port)] = f"{source}: models.{model}.hostPorts.{name}"
    return ports


def check_interpreter() -> Iterator[Problem]:
    if sys.version_info[:2] != (3, 11):
        yield Problem(f"the tools run on Python {sys.version.split()[0]}; images and locks need 3.11", SETUP)


def check_disk(purpose: str) -> Iterator[Problem]:
    out = build_dir()
    probe = out  # the filesystem the build dir is (or will be) on: its nearest existing ancestor
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_gib = shutil.disk_usage(probe).free / 2**30
    if free_gib < MIN_FREE_GIB[purpose]:
        yield Problem(
            f"{free_gib:.1f} GiB free under {probe}; {purpose} needs about {MIN_FREE_GIB[purpose]} GiB",
            "free disk space or set CF_BUILD_DIR to a larger filesystem",
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe_file = out / ".doctor-write-check"
        probe_file.write_text("ok")
        probe_file.unlink()
    except OSError as error:
        yield Problem(
            f"cannot write the build dir {out} ({error.strerror})", "fix its permissions or set CF_BUILD_DIR"
        )


def check_test_tools() -> Iterator[Problem]:
    yield from _binary("etcd", "etcd-server", SETUP_ALL)
    apiserver = build_dir() / "apiserver" / "bin" / "kube-apiserver"
    if not os.access(apiserver, os.X_OK) and not os.environ.get("KUBE_APISERVER"):
        yield Problem(f"no kube-apiserver at {apiserver}", SETUP_ALL)
    for venv in ("tf", "checkov"):
        if not (REPO_ROOT / ".venvs" / venv / "bin" / "python").exists():
            yield Problem(f".venvs/{venv} is missing", SETUP_ALL)
    for name in ("unshare", "setpriv"):
        yield from _binary(name, "util-linux", "apt-get install util-linux")
    yield from _binary("mount", "mount")


def problems(purpose: str, models: list[str] | None = None) -> list[Problem]:
    """Everything missing for ``purpose`` ("demo" or "test")."""
    found = [
        *check_interpreter(),
        *check_disk(purpose),
        *check_container_runtime(),
        *check_registry_tools(),
        *check_ports(local_ports(models)),
    ]
    if purpose == "test":
        found += check_test_tools()
    return found
