"""The Target for ``cluster.kind: podman`` environments (``local``): pods on this machine.

There is no cluster here, so this target does the few things a kubelet would and podman does not
(see shared notes on podman 4.3): it plays only the objects that describe pods (ConfigMaps and the
Deployment, tools.deploy.podman.play), publishes the model's ports on 127.0.0.1 only, enforces
``runAsNonRoot`` against the image's user before starting anything, runs one replica (host ports
cannot be shared), and checks readiness itself by polling the readiness probe's path.

What was last applied is kept in ``.build/local/<env>/<model>.yaml``, written atomically after a
successful apply, so ``diff`` and ``status`` have something to compare with and Ctrl-C never
leaves a half-written record.
"""

from __future__ import annotations

import difflib
import json
import logging
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tools.deploy.podman.client import Podman, is_local_registry
from tools.deploy.podman.play import deployment, endpoint_url, instance_of, playable, readiness_url
from tools.deploy.release import Release
from tools.deploy.target import Applied, Status, Target
from tools.errors import UserError
from tools.k8s.label_keys import ENVIRONMENT, INSTANCE
from tools.k8s.schema.environments import Environment
from tools.paths import build_dir

log = logging.getLogger(__name__)


@dataclass
class LocalStatus:
    """One model's pods on this machine, as podman reports them."""

    model: str
    pods: list[dict] = field(default_factory=list)
    ready: bool = False
    image: str | None = None
    endpoint: str | None = None

    def lines(self) -> list[str]:
        """Printable status lines."""
        if not self.pods:
            return [f"{self.model}: not deployed"]
        running = sum(1 for p in self.pods if p.get("Status") == "Running")
        return [
            f"{self.model}: {running}/{len(self.pods)} pod(s) running, ready={str(self.ready).lower()}",
            f"  image:    {self.image}",
            f"  endpoint: {self.endpoint}",
        ]


class PodmanTarget(Target):
    """One podman environment's models on this machine, through one podman client."""

    def __init__(self, env: Environment, *, state_dir: Path | None = None, podman: Podman | None = None):
        self.env = env
        self.env_name = env.name
        self.state_dir = state_dir or build_dir() / "local" / env.name
        self.podman = podman or Podman()

    # -- the Target verbs ------------------------------------------------------------------------

    def playable(self, release: Release) -> list[dict]:
        """The release as podman plays it (tools.deploy.podman.play)."""
        host_ports = self.env.models[release.model].hostPorts
        return playable(release.objects, host_ports, env_name=self.env_name, state_dir=self.state_dir)

    def apply(
        self, release: Release, *, dry_run: bool = False, timeout: float = 300, wait: bool = True
    ) -> Applied:
        # `wait` is not optional here: a pod is only replaced once the new one answers ready.
        played = self.playable(release)
        if dry_run:
            changes = self._diff(release.model, played)
            return Applied(bool(changes), [changes or f"{release.model}: no changes"])
        changed = self._apply(release.model, played, timeout=timeout)
        return Applied(changed, self._status(release.model, played).lines())

    def diff(self, release: Release) -> str:
        return self._diff(release.model, self.playable(release))

    def delete(self, release: Release, *, dry_run: bool = False) -> list[str]:
        if dry_run:
            return [f"pod of {release.model}"] if self.applied(release.model) else []
        return self._delete(release.model)

    def status(self, release: Release) -> Status:
        current = self._status(release.model)
        lines = current.lines()
        if current.ready and self.env.features.enableModelSpecificMetrics:
            # The local Prometheus (tools/observability) scrapes what the ServiceMonitor names.
            from tools.observability.local_prometheus import summary_lines

            lines += summary_lines(release.inputs)
        details = {
            "pods": [{"name": p.get("Name"), "status": p.get("Status")} for p in current.pods],
            "image": current.image,
        }
        return Status(current.ready, lines, current.endpoint, details)

    def endpoint(self, release: Release) -> str:
        current = self._status(release.model)
        if not current.pods or not current.endpoint:
            raise UserError(
                f"{release.model} is not running on {self.env_name} (run: ./dev apply {release.model})"
            )
        return current.endpoint

    # -- records of what was applied -------------------------------------------------------------

    def _record(self, model: str) -> Path:
        return self.state_dir / f"{model}.yaml"

    def applied(self, model: str) -> list[dict] | None:
        """What the last successful apply played, or None."""
        path = self._record(model)
        return list(yaml.safe_load_all(path.read_text())) if path.exists() else None

    def _write_record(self, model: str, played: list[dict]) -> None:
        path = self._record(model)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump_all(played, sort_keys=True))
        tmp.replace(path)

    def _diff(self, model: str, played: list[dict]) -> str:
        before = self.applied(model)
        old = yaml.safe_dump_all(before, sort_keys=True) if before else ""
        new = yaml.safe_dump_all(played, sort_keys=True)
        return "".join(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"live/{model}",
                tofile=f"rendered/{model}",
            )
        )

    def _check_non_root(self, played: list[dict]) -> None:
        """Does what the kubelet's runAsNonRoot check would: podman 4.3 does not enforce it."""
        pod = deployment(played)["spec"]["template"]["spec"]
        for container in pod["containers"]:
            ctx = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
            if not ctx.get("runAsNonRoot"):
                continue
            if ctx.get("runAsUser") not in (None, 0):
                continue
            user = self.podman("image", "inspect", container["image"], "--format", "{{.Config.User}}")
            uid = user.stdout.strip().split(":")[0]
            if uid in ("", "0", "root") or not uid.isdigit():
                raise UserError(
                    f"container {container['name']!r} must run as non-root, but image "
                    f"{container['image']} runs as {uid or 'root'!r} and no runAsUser is set"
                )

    def _pull(self, played: list[dict]) -> None:
        for container in deployment(played)["spec"]["template"]["spec"]["containers"]:
            image = container["image"]
            if "@sha256:" not in image:
                raise UserError(f"image {image!r} is not pinned by digest; resolve the manifests first")
            tls = "--tls-verify=false" if is_local_registry(image) else "--tls-verify=true"
            log.info("pulling %s", image)
            self.podman("pull", "--quiet", tls, image)

    def _apply(self, model: str, played: list[dict], *, timeout: float = 300) -> bool:
        """Plays the pod; returns False when it was already running exactly this and ready."""
        if self.applied(model) == played and self._status(model, played).ready:
            log.info("%s: unchanged and ready on %s", model, self.env_name)
            return False
        self._pull(played)
        self._check_non_root(played)
        manifest = self.state_dir / f"{model}.play.yaml"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(yaml.safe_dump_all(played, sort_keys=True))
        previous = self.applied(model)
        if previous:
            # Replace the old pods only now that the new image is pulled and checked.
            self._down(model, previous)
        log.info("%s: starting pod on %s", model, self.env_name)
        self.podman("kube", "play", "--network", "slirp4netns", "--tls-verify=false", str(manifest))
        self._write_record(model, played)
        self.wait_ready(model, played, timeout=timeout)
        return True

    def _down(self, model: str, played: list[dict]) -> None:
        instance = instance_of(played)
        pods = self._pods(instance)
        if pods:
            self.podman("pod", "rm", "--force", "--time", "10", *[p["Id"] for p in pods])

    def _delete(self, model: str) -> list[str]:
        """Removes the model's pods and record; returns the names of the pods removed."""
        played = self.applied(model)
        if not played:
            return []
        pods = self._pods(instance_of(played))
        if pods:
            self.podman("pod", "rm", "--force", "--time", "10", *[p["Id"] for p in pods])
        self._record(model).unlink()
        (self.state_dir / f"{model}.play.yaml").unlink(missing_ok=True)
        return [p["Name"] for p in pods]

    def _pods(self, instance: str) -> list[dict]:
        proc = self.podman(
            "pod",
            "ps",
            "--format",
            "json",
            "--filter",
            f"label={INSTANCE}={instance}",
            "--filter",
            f"label={ENVIRONMENT}={self.env_name}",
        )
        return json.loads(proc.stdout or "[]")

    def _status(self, model: str, played: list[dict] | None = None) -> LocalStatus:
        played = played or self.applied(model)
        status = LocalStatus(model=model)
        if not played:
            return status
        status.pods = self._pods(instance_of(played))
        status.endpoint = endpoint_url(played)
        container = deployment(played)["spec"]["template"]["spec"]["containers"][0]
        status.image = container["image"]
        if not status.pods:
            return status
        running = self._containers(status.pods)
        if running:
            status.image = running[0].get("ImageName") or status.image
        url = readiness_url(played)
        status.ready = bool(running) and (url is None or _http_ok(url))
        return status

    def _containers(self, pods: list[dict]) -> list[dict]:
        ids = [c["Id"] for p in pods for c in p.get("Containers", [])]
        if not ids:
            return []
        proc = self.podman("inspect", *ids, "--format", "json", check=False)
        found = json.loads(proc.stdout or "[]")
        return [
            {"ImageName": c.get("ImageName"), "Name": c.get("Name")}
            for c in found
            if not c.get("IsInfra") and c.get("State", {}).get("Running")
        ]

    def _logs(self, played: list[dict]) -> str:
        pods = self._pods(instance_of(played))
        names = [c["Names"] for p in pods for c in p.get("Containers", []) if "infra" not in c["Names"]]
        out = [self.podman("logs", "--tail", "15", n, check=False) for n in names]
        return "\n".join((p.stdout + p.stderr).strip() for p in out)

    def wait_ready(self, model: str, played: list[dict], *, timeout: float) -> None:
        """Polls until the readiness probe answers 200, the container dies, or time runs out."""
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        url = readiness_url(played)
        next_report = 0.0
        while True:
            status = self._status(model, played)
            if status.ready:
                print(f"  {model}: ready after {time.monotonic() - started:.1f}s", file=sys.stderr)
                return
            if status.pods and not any(p.get("Status") == "Running" for p in status.pods):
                raise UserError(
                    f"{model}: the container stopped before it was ready; its last log lines:\n"
                    + self._logs(played)
                )
            if time.monotonic() > deadline:
                raise UserError(
                    f"{model}: not ready after {timeout:.0f}s (polling {url}); last log lines:\n"
                    + self._logs(played)
                )
            waited = time.monotonic() - started
            if waited >= next_report:  # a line every 10 s: progress without a wall of text
                print(f"  {model}: waiting for {url} ({waited:.0f}s of {timeout:.0f}s)", file=sys.stderr)
                next_report += 10
            time.sleep(1.0)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
