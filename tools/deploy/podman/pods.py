"""What podman says about one model's pods: running, ready, restarted, and their last log lines.

The podman target's eyes, and the part of a kubelet it has to do itself: readiness is polled on
the readiness probe's path (podman 4.3 drops readinessProbe), and a server container that
restarted before it was ever ready is a crash loop, reported with the container's own log lines.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from tools.deploy.podman.client import Podman
from tools.deploy.podman.play import deployment, endpoint_url, instance_of, readiness_url, slot_of
from tools.deploy.target import say
from tools.errors import UserError
from tools.k8s.label_keys import ENVIRONMENT, INSTANCE, SLOT


@dataclass
class LocalStatus:
    """One model's pods on this machine, as podman reports them."""

    model: str
    pods: list[dict] = field(default_factory=list)
    ready: bool = False
    image: str | None = None
    endpoint: str | None = None
    restarts: int = 0  # of the server containers, by podman's restart policy

    @property
    def running(self) -> bool:
        return any(p.get("Status") == "Running" for p in self.pods)

    def lines(self) -> list[str]:
        """Printable status lines."""
        if not self.pods:
            return [f"{self.model}: not deployed"]
        running = sum(1 for p in self.pods if p.get("Status") == "Running")
        return [
            f"{self.model}: {running}/{len(self.pods)} pod(s) running, ready={str(self.ready).lower()}, "
            f"restarts={self.restarts}",
            f"  image:    {self.image}",
            f"  endpoint: {self.endpoint}",
        ]


class Pods:
    """Reads the pods of one podman environment through one podman client."""

    def __init__(self, podman: Podman, env_name: str):
        self.podman = podman
        self.env_name = env_name

    def list(self, played: list[dict], *, every_slot: bool = False) -> list[dict]:
        """The pods ``played`` started (those of its slot; without one, a pod played on the fixed
        ports before the model had a front proxy), or with ``every_slot`` all of the model's."""
        proc = self.podman(
            "pod",
            "ps",
            "--format",
            "json",
            "--filter",
            f"label={INSTANCE}={instance_of(played)}",
            "--filter",
            f"label={ENVIRONMENT}={self.env_name}",
        )
        pods = json.loads(proc.stdout or "[]")
        if every_slot:
            return pods
        return [p for p in pods if (p.get("Labels") or {}).get(SLOT) == slot_of(played)]

    def status(self, model: str, played: list[dict] | None) -> LocalStatus:
        """Running, ready (the readiness probe answers 200), image, endpoint, restarts."""
        status = LocalStatus(model=model)
        if not played:
            return status
        status.pods = self.list(played)
        status.endpoint = endpoint_url(played)
        status.image = deployment(played)["spec"]["template"]["spec"]["containers"][0]["image"]
        if not status.pods:
            return status
        servers = self.servers(status.pods)
        status.restarts = sum(c.get("RestartCount", 0) for c in servers)
        running = [c for c in servers if c.get("State", {}).get("Running")]
        if running:
            status.image = running[0].get("ImageName") or status.image
        url = readiness_url(played)
        status.ready = bool(running) and (url is None or http_ok(url))
        return status

    def servers(self, pods: list[dict]) -> list[dict]:
        """``podman inspect`` of the pods' containers, without the infra containers."""
        ids = [c["Id"] for p in pods for c in p.get("Containers", [])]
        if not ids:
            return []
        proc = self.podman("inspect", *ids, "--format", "json", check=False)
        return [c for c in json.loads(proc.stdout or "[]") if not c.get("IsInfra")]

    def logs(self, played: list[dict], lines: int = 20) -> str:
        """The server containers' last log lines (across their restarts), without the access-log
        lines of our own readiness polls, which would otherwise bury the line saying why."""
        containers = [c["Names"] for p in self.list(played) for c in p.get("Containers", [])]
        names = [name for name in containers if "infra" not in name]
        url = readiness_url(played)
        poll = f" {urllib.parse.urlsplit(url).path} HTTP/" if url else None
        quoted = []
        for name in names:
            out = self.podman("logs", "--tail", "500", name, check=False)
            text = (out.stdout + out.stderr).strip().splitlines()
            quoted += [line for line in text if not (poll and poll in line)][-lines:]
        return "\n".join(quoted)

    def remove(self, played: list[dict], *, every_slot: bool = False) -> list[str]:
        """Removes the pods ``played`` started (SIGTERM, 10 s, then SIGKILL: the server drains what
        it accepted); returns their names. ``every_slot``: all of the model's pods."""
        pods = self.list(played, every_slot=every_slot)
        if pods:
            self.podman("pod", "rm", "--force", "--time", "10", *[p["Id"] for p in pods])
        return [p["Name"] for p in pods]

    def wait_ready(self, model: str, played: list[dict], *, timeout: float) -> None:
        """Polls until the readiness probe answers 200; a UserError quoting the server's own log
        lines when it stopped, restarted (crash loop) or did not answer within ``timeout``."""
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        url = readiness_url(played)
        next_report = 0.0
        while True:
            status = self.status(model, played)
            if status.ready:
                say(f"{model}: ready after {time.monotonic() - started:.1f}s")
                return
            if status.pods and (status.restarts or not status.running):
                what = f"restarted {status.restarts} time(s)" if status.restarts else "stopped"
                raise UserError(
                    f"{model}: the server container {what} before it was ready; its last log lines:\n"
                    + self.logs(played)
                )
            if time.monotonic() > deadline:
                raise UserError(
                    f"{model}: not ready after {timeout:.0f}s (polling {url}); last log lines:\n"
                    + self.logs(played)
                )
            waited = time.monotonic() - started
            if waited >= next_report:  # a line every 10 s: progress without a wall of text
                say(f"{model}: waiting for {url} ({waited:.0f}s of {timeout:.0f}s)")
                next_report += 10
            time.sleep(0.5)


def http_ok(url: str) -> bool:
    """Whether ``url`` answers 200 within 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
