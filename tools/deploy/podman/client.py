"""The podman command line as the podman target's one client: our configuration, one-line errors."""

from __future__ import annotations

import os
import shutil
import subprocess

from tools.errors import UserError
from tools.paths import build_dir

CONTAINERS_CONF = """\
# Written by tools/deploy/podman/client.py. podman 4.3's default runtime (crun) fails on this kind
# of host ("cgroups in hybrid mode not supported"), and its default ulimits exceed the host's hard
# limits.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
"""


def podman_env() -> dict[str, str]:
    """The environment podman runs with: our containers.conf unless the user brought their own."""
    env = dict(os.environ)
    if "CONTAINERS_CONF" not in env:
        conf = build_dir() / "podman" / "containers.conf"
        if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(CONTAINERS_CONF)
        env["CONTAINERS_CONF"] = str(conf)
    return env


class Podman:
    """Runs ``podman`` with one environment, made on first use (so verbs that only read records,
    like ``delete --dry-run``, work without podman installed)."""

    def __init__(self) -> None:
        self._env: dict[str, str] | None = None

    def __call__(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        if self._env is None:
            if shutil.which("podman") is None:
                raise UserError("podman is not installed (run ./dev setup)")
            self._env = podman_env()
        proc = subprocess.run(
            ["podman", *args], capture_output=True, text=True, env=self._env, timeout=timeout
        )
        if check and proc.returncode != 0:
            # kube play ends with "Error: failed to start N containers"; the why is above it.
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            detail = [line for i, line in enumerate(lines) if line not in lines[:i]][-3:]
            raise UserError(
                f"podman {args[0]} {args[1] if len(args) > 1 else ''} failed: "
                f"{'; '.join(detail) if detail else 'exit ' + str(proc.returncode)}"
            )
        return proc


def is_local_registry(image: str) -> bool:
    """A loopback registry (the repo's own): pulled without TLS."""
    host = image.split("/", 1)[0]
    return host.startswith(("127.", "localhost"))
