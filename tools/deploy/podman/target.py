"""The Target for ``cluster.kind: podman`` environments (``local``): pods on this machine.

There is no cluster here, so this target does the few things a kubelet would and podman does not
(see shared notes on podman 4.3): it plays only the objects that describe pods (ConfigMaps and the
Deployment, tools.deploy.podman.play), publishes the model's ports on 127.0.0.1 only, enforces
``runAsNonRoot`` against the image's user before starting anything, runs one replica (host ports
cannot be shared), and checks readiness itself by polling the readiness probe's path
(tools.deploy.podman.pods). Pods run with restartPolicy Always, which podman honours when a server
process dies; a new version is proven ready in a standby pod beside the serving one before it
replaces it, so a version that never gets ready leaves the serving one untouched (``_apply``).

What was last applied is kept in ``.build/local/<env>/<model>.yaml``, written atomically after a
successful apply, so ``diff`` and ``status`` have something to compare with and Ctrl-C never
leaves a half-written record.
"""

from __future__ import annotations

import difflib
import logging
import socket
from pathlib import Path

import yaml

from tools.deploy.podman.client import Podman, is_local_registry
from tools.deploy.podman.play import deployment, endpoint_url, host_ports, playable, standby
from tools.deploy.podman.pods import LocalStatus, Pods
from tools.deploy.podman.revisions import LocalHistory
from tools.deploy.release import Release
from tools.deploy.target import Applied, Status, Target, say
from tools.errors import UserError
from tools.k8s.schema.environments import Environment
from tools.paths import build_dir

log = logging.getLogger(__name__)


class PodmanTarget(Target):
    """One podman environment's models on this machine, through one podman client."""

    def __init__(self, env: Environment, *, state_dir: Path | None = None, podman: Podman | None = None):
        self.env = env
        self.env_name = env.name
        self.state_dir = state_dir or build_dir() / "local" / env.name
        self.podman = podman or Podman()
        self.pods = Pods(self.podman, self.env_name)

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
        # Ready now: recorded (an unchanged apply repeats the latest revision, which is not re-added).
        revision = LocalHistory(self.state_dir, release.model).record(played, release.digests or {})
        say(f"{release.model}: {revision.describe()}")
        return Applied(changed, self._status(release.model, played).lines())

    def history(self, release: Release) -> list[str]:
        return [r.describe() for r in LocalHistory(self.state_dir, release.model).revisions()]

    def rollback(self, release: Release, *, to: int | None = None, timeout: float = 300) -> str:
        history = LocalHistory(self.state_dir, release.model)
        revision = history.get(to)
        say(f"{release.model}: rolling back to {revision.describe()}")
        self._apply(release.model, revision.objects, timeout=timeout)  # proven beside, as any apply
        return history.record(revision.objects, revision.digests, rollback_of=revision.number).describe()

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
            "restarts": current.restarts,
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
        """Plays the pod; returns False when it was already running exactly this and ready.

        While an earlier version serves, the new one is first proven beside it (a standby pod on
        other loopback ports): if that never becomes ready, the standby is removed, the serving
        pod was never touched, and the error quotes the standby's own log lines. Only a proven
        version replaces the serving pod; should that replacement still fail (a port taken in
        between), the previous version is played again.
        """
        previous = self.applied(model)
        serving = self.pods.status(model, previous)
        if previous == played and serving.ready:
            log.info("%s: unchanged and ready on %s", model, self.env_name)
            return False
        self._pull(played)
        self._check_non_root(played)
        if serving.ready:
            self._prove_beside(model, played, timeout=timeout)
        if previous:
            self.pods.remove(previous)
        try:
            self._play(model, played, timeout=timeout)
        except UserError:
            if not serving.ready:
                raise  # nothing served before: the failed pod stays for `podman logs`
            self.pods.remove(played)
            say(f"{model}: replacement failed; playing the previous version again")
            self._play(model, previous, timeout=timeout)
            raise
        return True

    def _play(self, model: str, played: list[dict], *, timeout: float) -> None:
        manifest = self.state_dir / f"{model}.play.yaml"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(yaml.safe_dump_all(played, sort_keys=True))
        log.info("%s: starting pod on %s", model, self.env_name)
        self.podman("kube", "play", "--network", "slirp4netns", "--tls-verify=false", str(manifest))
        self._write_record(model, played)  # before waiting: a pod that never gets ready can be deleted
        self.pods.wait_ready(model, played, timeout=timeout)

    def _prove_beside(self, model: str, played: list[dict], *, timeout: float) -> None:
        """Starts ``played`` as a standby pod on free loopback ports and waits for it to be ready;
        removes it either way. A UserError (the standby's log lines) if it never was ready."""
        beside = standby(played, {port: free_port() for port in host_ports(played)})
        self.pods.remove(beside)  # a standby left by an interrupted apply
        manifest = self.state_dir / f"{model}.standby.yaml"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(yaml.safe_dump_all(beside, sort_keys=True))
        say(f"{model}: starting the new version beside the serving one ({endpoint_url(beside)})")
        try:
            self.podman("kube", "play", "--network", "slirp4netns", "--tls-verify=false", str(manifest))
            self.pods.wait_ready(model, beside, timeout=timeout)
        except UserError as error:
            kept = f"{model}: the new version was removed; the serving one was not touched"
            raise UserError(f"{error}\n{kept}") from None
        finally:
            self.pods.remove(beside)
            manifest.unlink(missing_ok=True)

    def _down(self, model: str, played: list[dict]) -> None:
        self.pods.remove(played)

    def _logs(self, played: list[dict]) -> str:
        return self.pods.logs(played)

    def _status(self, model: str, played: list[dict] | None = None) -> LocalStatus:
        return self.pods.status(model, played or self.applied(model))

    def _delete(self, model: str) -> list[str]:
        """Removes the model's pods (a standby one too) and record; returns the pods removed."""
        played = self.applied(model)
        if not played:
            return []
        same_ports = {port: port for port in host_ports(played)}
        removed = self.pods.remove(played) + self.pods.remove(standby(played, same_ports))
        self._record(model).unlink()
        (self.state_dir / f"{model}.play.yaml").unlink(missing_ok=True)
        return removed


def free_port() -> int:
    """A loopback port nobody listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
