"""The Target for ``cluster.kind: podman`` environments (``local``): pods on this machine.

There is no cluster here, so this target does the few things a kubelet would and podman does not
(see shared notes on podman 4.3): it plays only the objects that describe pods (ConfigMaps and the
Deployment, tools.deploy.podman.play), publishes the model's ports on 127.0.0.1 only, enforces
``runAsNonRoot`` against the image's user before starting anything, runs one replica (host ports
cannot be shared), and checks readiness itself by polling the readiness probe's path
(tools.deploy.podman.pods). Pods run with restartPolicy Always, which podman honours when a server
process dies. The model's fixed ports belong to its front proxy (tools.deploy.podman.front),
which forwards to the pods on their own loopback ports: a new version is started beside the
serving one and proven ready before the proxy sends it anything, so a version that never gets
ready leaves the serving one untouched, and a proven one takes over without the port ever going
unanswered (``_apply``). ``apply --canary P`` first gives the new version P% of the traffic and
judges it by its own /metrics (tools.deploy.podman.canary).

What was last applied is kept in ``.build/local/<env>/<model>.yaml``, written atomically after a
successful apply, so ``diff`` and ``status`` have something to compare with and Ctrl-C never
leaves a half-written record.
"""

from __future__ import annotations

import difflib
import logging
import secrets
import socket
from pathlib import Path

import yaml

from tools.deploy.podman.canary import watch
from tools.deploy.podman.client import Podman, is_local_registry
from tools.deploy.podman.front import Backend, Front, settle
from tools.deploy.podman.play import deployment, endpoint_url, placed, playable, published
from tools.deploy.podman.pods import LocalStatus, Pods
from tools.deploy.podman.revisions import LocalHistory
from tools.deploy.release import Release
from tools.deploy.revision import Revision
from tools.deploy.target import Applied, Status, Target, say
from tools.errors import UserError
from tools.k8s.label_keys import SLOT
from tools.k8s.schema.environments import Environment
from tools.k8s.schema.runtime_metrics import RuntimeMetrics
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
        self,
        release: Release,
        *,
        dry_run: bool = False,
        timeout: float = 300,
        wait: bool = True,
        canary: int | None = None,
    ) -> Applied:
        # `wait` is not optional here: a pod is only replaced once the new one answers ready.
        played = self.playable(release)
        if dry_run:
            changes = self._diff(release.model, played)
            return Applied(bool(changes), [changes or f"{release.model}: no changes"])
        judged = (canary, release.inputs.metrics) if canary is not None else None
        changed = self._apply(release.model, played, timeout=timeout, canary=judged)
        # Ready now: recorded (an unchanged apply repeats the latest revision, which is not re-added).
        revision = LocalHistory(self.state_dir, release.model).record(played, release.digests or {})
        say(f"{release.model}: {revision.describe()}")
        return Applied(changed, self._status(release.model, played).lines())

    def history(self, release: Release) -> list[Revision]:
        return LocalHistory(self.state_dir, release.model).revisions()

    def rollback(self, release: Release, *, to: int | None = None, timeout: float = 300) -> Revision:
        history = LocalHistory(self.state_dir, release.model)
        revision = history.get(to)
        say(f"{release.model}: rolling back to {revision.describe()}")
        self._apply(release.model, revision.objects, timeout=timeout)  # proven beside, as any apply
        return history.record(revision.objects, revision.digests, rollback_of=revision.number)

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

    def serving_pod(self, model: str) -> list[dict] | None:
        """The serving pod of ``model`` as played (on its own ports), or None."""
        return self._serving(model, self.applied(model))

    def _serving(self, model: str, intent: list[dict] | None) -> list[dict] | None:
        """The serving pod as played (on its own ports, behind the proxy), the pod an earlier
        version of this target played on the fixed ports, or None."""
        if not intent:
            return None
        stable = [b for b in Front(self.state_dir, model).backends() if b.track == "stable"]
        return placed(intent, stable[0].ports, stable[0].slot) if stable else intent

    def _route(self, model: str, intent: list[dict], *backends: tuple[str, int, list[dict]]) -> None:
        """Points the model's fixed ports (``intent``'s) at (track, weight, placed pod)s."""
        front = Front(self.state_dir, model)
        front.route(
            published(intent),
            [
                Backend(t, deployment(p)["spec"]["template"]["metadata"]["labels"][SLOT], w, published(p))
                for t, w, p in backends
            ],
        )

    def _apply(
        self,
        model: str,
        played: list[dict],
        *,
        timeout: float = 300,
        canary: tuple[int, RuntimeMetrics] | None = None,
    ) -> bool:
        """Plays the pod; returns False when it was already running exactly this and ready.

        The new version is started beside the serving one on its own loopback ports. Nothing is
        routed to it before it is ready: one that never is gets removed, the serving pod was never
        touched, and the error quotes its own log lines. Once ready it gets the fixed ports from
        the front proxy (all of them, or ``canary``'s percent until its window is judged by the
        runtime's metric vocabulary), and only
        then is the old pod stopped (it drains what it had accepted).
        """
        previous = self.applied(model)
        old = self._serving(model, previous)
        serving = self.pods.status(model, old)
        proxied = old is not None and old is not previous
        if previous == played and serving.ready and proxied:
            if not Front(self.state_dir, model).pid():
                self._route(model, previous, ("stable", 100, old))  # restarts the proxy
                say(f"{model}: its proxy was not running; started it again")
            log.info("%s: unchanged and ready on %s", model, self.env_name)
            return False
        if canary is not None and not (serving.ready and proxied):
            raise UserError(
                f"{model}: --canary needs a ready version serving behind the model's proxy on "
                f"{self.env_name}; apply once without --canary first"
            )
        self._pull(played)
        self._check_non_root(played)
        slot = "v" + secrets.token_hex(3)  # never all digits: podman would read the label as a number
        new = placed(played, {name: free_port() for name in published(played)}, slot)
        manifest = self.state_dir / f"{model}.{slot}.play.yaml"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(yaml.safe_dump_all(new, sort_keys=True))
        if serving.ready:
            say(f"{model}: starting the new version beside the serving one ({endpoint_url(new)})")
        else:
            if old:
                self.pods.remove(old)  # not ready: nothing to keep serving
            self._write_record(model, played)  # before waiting: a pod that never gets ready can be deleted
            say(f"{model}: starting the pod ({endpoint_url(new)})")
        try:
            self.podman("kube", "play", "--network", "slirp4netns", "--tls-verify=false", str(manifest))
            if not serving.ready:
                self._route(model, played, ("stable", 100, new))
            self.pods.wait_ready(model, new, timeout=timeout)
        except UserError as error:
            if not serving.ready:
                raise  # nothing served before: the failed pod stays for `podman logs`
            self.pods.remove(new)
            kept = f"{model}: the new version was removed; the serving one was not touched"
            raise UserError(f"{error}\n{kept}") from None
        finally:
            manifest.unlink(missing_ok=True)
        if canary is not None:
            percent, vocabulary = canary
            self._route(model, previous, ("stable", 100 - percent, old), ("canary", percent, new))
            say(f"{model}: canary gets {percent}% of requests on {endpoint_url(previous)}")
            breached = watch(self.pods, model, new, self.env.canary, vocabulary)
            if breached:
                self._route(model, previous, ("stable", 100, old))
                settle()
                self.pods.remove(new)
                raise UserError(f"{model}: canary rolled back, {breached}; the stable version serves on")
            say(f"{model}: canary promoted")
        if proxied or not serving.ready:
            self._route(model, played, ("stable", 100, new))
            settle()
            if serving.ready:
                self.pods.remove(old)
        else:  # the old pod holds the fixed ports itself (played before the proxy): one gap, once
            self.pods.remove(old)
            self._route(model, played, ("stable", 100, new))
        self._write_record(model, played)
        return True

    def _status(self, model: str, played: list[dict] | None = None) -> LocalStatus:
        intent = played or self.applied(model)
        serving = self._serving(model, intent)
        status = self.pods.status(model, serving)
        if intent:
            status.endpoint = endpoint_url(intent)  # the fixed port, the proxy's
            if serving is not intent and not Front(self.state_dir, model).pid():
                status.ready = False  # the pod answers, but nobody forwards the fixed port to it
        return status

    def _delete(self, model: str) -> list[str]:
        """Removes the model's pods (every slot), its proxy and its record; returns the pods removed."""
        played = self.applied(model)
        if not played:
            return []
        removed = self.pods.remove(played, every_slot=True)
        Front(self.state_dir, model).remove()
        self._record(model).unlink()
        return removed


def free_port() -> int:
    """A loopback port nobody listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
