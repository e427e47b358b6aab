"""The podman target's side of a model's front proxy (tools/deploy/podman/proxy.py): which pods
get the model's fixed ports and with what weight (the routes file), and the proxy daemon itself.

State, in the environment's state dir: ``<model>.routes.json`` (what the proxy reads: the fixed
ports, the live pods' own ports and weights) and ``<model>.proxy.json`` (its pid). A recorded
pid is only trusted while that process still runs this proxy on this routes file
(tools.daemons): a pid file outlives its process.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tools import daemons
from tools.errors import UserError
from tools.paths import REPO_ROOT

HTTP_PORTS = ("http", "metrics")  # port names proxied per request; the others (grpc) per connection


@dataclass(frozen=True)
class Backend:
    """One live pod: its track (``stable``/``canary``), slot (pod name suffix), share and own ports."""

    track: str
    slot: str
    weight: int
    ports: dict[str, int]  # port name -> the pod's own loopback port


class Front:
    """One model's front proxy and routes on one podman environment."""

    def __init__(self, state_dir: Path, model: str):
        self.model = model
        self.routes_file = (state_dir / f"{model}.routes.json").resolve()
        self.pid_file = state_dir / f"{model}.proxy.json"
        self.log_file = state_dir / f"{model}.proxy.log"

    # -- routes ----------------------------------------------------------------------------------

    def backends(self) -> list[Backend]:
        """The live pods, as last routed (empty: none yet, or a pod played before the proxy)."""
        if not self.routes_file.exists():
            return []
        return [Backend(**b) for b in json.loads(self.routes_file.read_text())["backends"]]

    def route(self, listen: Mapping[str, int], backends: list[Backend]) -> None:
        """Sends the fixed ports' traffic to ``backends`` by weight (atomic: the proxy never reads
        half a file), starting the proxy if it is not running."""
        data = {
            "listen": dict(listen),
            "http": [name for name in listen if name in HTTP_PORTS],
            "backends": [b.__dict__ for b in backends],
        }
        self.routes_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.routes_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, self.routes_file)
        running = self.pid()
        if running and json.loads(self.pid_file.read_text()).get("listen") != dict(listen):
            self.stop()  # the environment's fixed ports changed: rebind
            running = None
        if not running:
            self.start(listen)

    # -- the daemon ------------------------------------------------------------------------------

    def _is_ours(self, pid: int) -> bool:
        command = daemons.argv(pid)
        return "tools.deploy.podman.proxy" in command and str(self.routes_file) in command

    def pid(self) -> int | None:
        """The running proxy's pid, or None."""
        try:
            pid = int(json.loads(self.pid_file.read_text())["pid"])
        except (FileNotFoundError, ValueError, KeyError):
            return None
        return pid if daemons.alive(pid) and self._is_ours(pid) else None

    def start(self, listen: Mapping[str, int]) -> int:
        taken = [port for port in listen.values() if daemons.port_in_use(port)]
        if taken:
            raise UserError(
                f"{self.model}: port(s) {taken} on 127.0.0.1 are taken by another process; "
                "the model's proxy cannot listen there"
            )
        pid = daemons.start(
            [sys.executable, "-m", "tools.deploy.podman.proxy", str(self.routes_file)],
            self.log_file,
            lambda: all(daemons.port_in_use(port) for port in listen.values()),
            name=f"{self.model}'s proxy",
            timeout=20,
            cwd=REPO_ROOT,
        )
        self.pid_file.write_text(json.dumps({"pid": pid, "listen": dict(listen)}) + "\n")
        return pid

    def stop(self) -> bool:
        """Stops the proxy; False when none ran. Refuses a recorded pid that is not our proxy."""
        try:
            pid = int(json.loads(self.pid_file.read_text())["pid"])
        except (FileNotFoundError, ValueError, KeyError):
            return False
        if daemons.alive(pid) and not self._is_ours(pid):
            raise UserError(
                f"pid {pid} is not {self.model}'s proxy (it runs: {daemons.command_line(pid)[:120]}); "
                "not stopping it",
                file=self.pid_file,
            )
        stopped = daemons.stop(pid, 10)
        self.pid_file.unlink(missing_ok=True)
        return stopped

    def remove(self) -> None:
        """Stops the proxy and forgets the routes (delete)."""
        self.stop()
        self.routes_file.unlink(missing_ok=True)


def settle() -> None:
    """Lets requests the proxy already sent to a pod that left its routes finish being accepted
    before that pod is told to stop (it then drains them: graceful shutdown)."""
    time.sleep(1.0)
