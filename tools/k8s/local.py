"""The `local` environment: the resolved manifests run as pods with ``podman kube play``.

There is no cluster here, so this module does the few things a kubelet would and podman does not
(see shared notes on podman 4.3): it plays only the objects that describe pods (ConfigMaps and the
Deployment), publishes the model's ports on 127.0.0.1 only, enforces ``runAsNonRoot`` against the
image's user before starting anything, runs one replica (host ports cannot be shared), and checks
readiness itself by polling the readiness probe's path.

What was last applied is kept in ``.build/local/<env>/<model>.yaml``, written atomically after a
successful apply, so ``diff`` and ``status`` have something to compare with and Ctrl-C never
leaves a half-written record.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tools.errors import UserError
from tools.paths import build_dir

log = logging.getLogger(__name__)

# podman plays the Deployment (its ConfigMaps become files, see _materialize_config_maps);
# Namespace, RBAC, Service, HPA, PDB and ServiceMonitor only mean something to a control plane.
INSTANCE_LABEL = "app.kubernetes.io/instance"
ENVIRONMENT_LABEL = "servectl.io/environment"

CONTAINERS_CONF = """\
# Written by tools/k8s/local.py. podman 4.3's default runtime (crun) fails on this kind of host
# ("cgroups in hybrid mode not supported"), and its default ulimits exceed the host's hard limits.
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


def _podman(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    if shutil.which("podman") is None:
        raise UserError("podman is not installed (run ./dev setup)")
    proc = subprocess.run(
        ["podman", *args], capture_output=True, text=True, env=podman_env(), timeout=timeout
    )
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise UserError(
            f"podman {args[0]} {args[1] if len(args) > 1 else ''} failed: "
            f"{detail[-1] if detail else 'exit ' + str(proc.returncode)}"
        )
    return proc


@dataclass
class LocalStatus:
    model: str
    pods: list[dict] = field(default_factory=list)
    ready: bool = False
    image: str | None = None
    endpoint: str | None = None

    def lines(self) -> list[str]:
        if not self.pods:
            return [f"{self.model}: not deployed"]
        running = sum(1 for p in self.pods if p.get("Status") == "Running")
        return [
            f"{self.model}: {running}/{len(self.pods)} pod(s) running, ready={str(self.ready).lower()}",
            f"  image:    {self.image}",
            f"  endpoint: {self.endpoint}",
        ]


def _is_local_registry(image: str) -> bool:
    host = image.split("/", 1)[0]
    return host.startswith(("127.", "localhost"))


class PodmanTarget:
    """Applies, diffs, checks and deletes one environment's models on this machine with podman."""

    def __init__(self, env_name: str, *, state_dir: Path | None = None):
        self.env_name = env_name
        self.state_dir = state_dir or build_dir() / "local" / env_name

    # -- records of what was applied -------------------------------------------------------------

    def _record(self, model: str) -> Path:
        return self.state_dir / f"{model}.yaml"

    def applied(self, model: str) -> list[dict] | None:
        path = self._record(model)
        return list(yaml.safe_load_all(path.read_text())) if path.exists() else None

    def _write_record(self, model: str, played: list[dict]) -> None:
        path = self._record(model)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump_all(played, sort_keys=True))
        tmp.replace(path)

    # -- turning resolved manifests into what podman plays --------------------------------------

    def playable(self, objects: Iterable[Mapping], host_ports: Mapping[str, int]) -> list[dict]:
        """The Deployment, with one replica, ports published on loopback and ConfigMaps as files."""
        objects = [copy.deepcopy(dict(o)) for o in objects]
        deployments = [o for o in objects if o.get("kind") == "Deployment"]
        if len(deployments) != 1:
            raise UserError(f"expected one Deployment per model, got {len(deployments)}")
        config_maps = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "ConfigMap"}
        self._materialize_config_maps(deployments[0]["spec"]["template"]["spec"], config_maps)
        played = deployments
        # Pods of two podman environments on one machine must not collide: podman names a pod
        # after its Deployment, and status/delete find pods by labels.
        deployments[0]["metadata"]["name"] = f"{self.env_name}-{deployments[0]['metadata']['name']}"
        spec = deployments[0]["spec"]
        spec["template"]["metadata"].setdefault("labels", {})[ENVIRONMENT_LABEL] = self.env_name
        spec["replicas"] = 1  # host ports cannot be shared between replicas on one machine
        published = set()
        for container in spec["template"]["spec"]["containers"]:
            # podman turns these into healthchecks driven by systemd timers, which this machine
            # does not run; readiness is polled by wait_ready instead.
            container.pop("livenessProbe", None)
            container.pop("startupProbe", None)
            for port in container.get("ports", []):
                host_port = host_ports.get(port.get("name", "")) or host_ports.get(str(port["containerPort"]))
                if host_port:
                    port["hostPort"] = int(host_port)
                    port["hostIP"] = "127.0.0.1"
                    published.add(port.get("name") or str(port["containerPort"]))
        missing = set(host_ports) - published
        if missing:
            raise UserError(f"hostPorts name no container port: {sorted(missing)}")
        return played

    def _materialize_config_maps(self, pod: dict, config_maps: Mapping[str, dict]) -> None:
        """Turns configMap volumes into read-only hostPath mounts of files written here.

        podman 4.3 ignores ``subPath`` (a ConfigMap key mounted over one file becomes a directory
        and the container fails) and keeps ConfigMap volumes as named volumes that are not updated
        on the next play. Files under a directory named by the content's hash avoid both: a changed
        ConfigMap is a changed path, so diff sees it and the pod is replaced.
        """
        volumes = {v["name"]: v for v in pod.get("volumes", []) if "configMap" in v}
        if not volumes:
            return
        written: dict[str, Path] = {}
        for name, volume in volumes.items():
            cm_name = volume["configMap"]["name"]
            if cm_name not in config_maps:
                raise UserError(f"volume {name!r} names ConfigMap {cm_name!r}, which is not rendered")
            data = config_maps[cm_name].get("data", {})
            items = volume["configMap"].get("items") or [{"key": k, "path": k} for k in sorted(data)]
            files = {item["path"]: data[item["key"]] for item in items}
            content = json.dumps(files, sort_keys=True).encode()
            directory = (
                self.state_dir / "configmaps" / f"{cm_name}-{hashlib.sha256(content).hexdigest()[:12]}"
            )
            if not directory.exists():
                tmp = directory.with_name(directory.name + ".tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                for rel, text in files.items():
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    (tmp / rel).write_text(text)
                    (tmp / rel).chmod(0o644)
                tmp.chmod(0o755)
                tmp.rename(directory)
            written[name] = directory
        new_volumes = [v for v in pod.get("volumes", []) if v["name"] not in volumes]
        for container in pod["containers"]:
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in written:
                    continue
                directory = written[mount["name"]]
                sub_path = mount.pop("subPath", None)
                volume_name = (
                    f"{mount['name']}-{sub_path.replace('.', '-').replace('/', '-')}"
                    if sub_path
                    else mount["name"]
                )
                host_path = (
                    {"path": str(directory / sub_path), "type": "File"}
                    if sub_path
                    else {"path": str(directory), "type": "Directory"}
                )
                mount["name"] = volume_name
                mount["readOnly"] = True
                if not any(v["name"] == volume_name for v in new_volumes):
                    new_volumes.append({"name": volume_name, "hostPath": host_path})
        pod["volumes"] = new_volumes

    @staticmethod
    def _deployment(played: list[dict]) -> dict:
        return next(o for o in played if o["kind"] == "Deployment")

    def _instance(self, played: list[dict]) -> str:
        labels = self._deployment(played)["spec"]["template"]["metadata"]["labels"]
        return labels.get(INSTANCE_LABEL) or labels[next(iter(labels))]

    # -- the verbs -------------------------------------------------------------------------------

    def diff(self, model: str, played: list[dict]) -> str:
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
        pod = self._deployment(played)["spec"]["template"]["spec"]
        for container in pod["containers"]:
            ctx = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
            if not ctx.get("runAsNonRoot"):
                continue
            if ctx.get("runAsUser") not in (None, 0):
                continue
            user = _podman("image", "inspect", container["image"], "--format", "{{.Config.User}}")
            uid = user.stdout.strip().split(":")[0]
            if uid in ("", "0", "root") or not uid.isdigit():
                raise UserError(
                    f"container {container['name']!r} must run as non-root, but image "
                    f"{container['image']} runs as {uid or 'root'!r} and no runAsUser is set"
                )

    def _pull(self, played: list[dict]) -> None:
        for container in self._deployment(played)["spec"]["template"]["spec"]["containers"]:
            image = container["image"]
            if "@sha256:" not in image:
                raise UserError(f"image {image!r} is not pinned by digest; resolve the manifests first")
            tls = "--tls-verify=false" if _is_local_registry(image) else "--tls-verify=true"
            log.info("pulling %s", image)
            _podman("pull", "--quiet", tls, image)

    def apply(self, model: str, played: list[dict], *, timeout: float = 300, dry_run: bool = False) -> bool:
        """Plays the pod; returns False when it was already running exactly this and ready."""
        if not dry_run and self.applied(model) == played and self.status(model, played).ready:
            log.info("%s: unchanged and ready on %s", model, self.env_name)
            return False
        if dry_run:
            return bool(self.diff(model, played))
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
        _podman("kube", "play", "--network", "slirp4netns", "--tls-verify=false", str(manifest))
        self._write_record(model, played)
        self.wait_ready(model, played, timeout=timeout)
        return True

    def _down(self, model: str, played: list[dict]) -> None:
        instance = self._instance(played)
        pods = self._pods(instance)
        if pods:
            _podman("pod", "rm", "--force", "--time", "10", *[p["Id"] for p in pods])

    def delete(self, model: str) -> list[str]:
        """Removes the model's pods and record; returns the names of the pods removed."""
        played = self.applied(model)
        if not played:
            return []
        pods = self._pods(self._instance(played))
        if pods:
            _podman("pod", "rm", "--force", "--time", "10", *[p["Id"] for p in pods])
        self._record(model).unlink()
        (self.state_dir / f"{model}.play.yaml").unlink(missing_ok=True)
        return [p["Name"] for p in pods]

    def _pods(self, instance: str) -> list[dict]:
        proc = _podman(
            "pod",
            "ps",
            "--format",
            "json",
            "--filter",
            f"label={INSTANCE_LABEL}={instance}",
            "--filter",
            f"label={ENVIRONMENT_LABEL}={self.env_name}",
        )
        return json.loads(proc.stdout or "[]")

    def _readiness_url(self, played: list[dict]) -> str | None:
        container = self._deployment(played)["spec"]["template"]["spec"]["containers"][0]
        probe = (container.get("readinessProbe") or {}).get("httpGet")
        if not probe:
            return None
        by_name = {p.get("name"): p for p in container.get("ports", [])}
        by_number = {p["containerPort"]: p for p in container.get("ports", [])}
        port = by_name.get(probe["port"]) or by_number.get(probe["port"])
        if not port or "hostPort" not in port:
            return None
        return f"http://127.0.0.1:{port['hostPort']}{probe.get('path', '/')}"

    def endpoint(self, played: list[dict]) -> str | None:
        container = self._deployment(played)["spec"]["template"]["spec"]["containers"][0]
        for port in container.get("ports", []):
            if "hostPort" in port:
                return f"http://127.0.0.1:{port['hostPort']}"
        return None

    def status(self, model: str, played: list[dict] | None = None) -> LocalStatus:
        played = played or self.applied(model)
        status = LocalStatus(model=model)
        if not played:
            return status
        status.pods = self._pods(self._instance(played))
        status.endpoint = self.endpoint(played)
        container = self._deployment(played)["spec"]["template"]["spec"]["containers"][0]
        status.image = container["image"]
        if not status.pods:
            return status
        running = self._containers(status.pods)
        if running:
            status.image = running[0].get("ImageName") or status.image
        url = self._readiness_url(played)
        status.ready = bool(running) and (url is None or _http_ok(url))
        return status

    def _containers(self, pods: list[dict]) -> list[dict]:
        ids = [c["Id"] for p in pods for c in p.get("Containers", [])]
        if not ids:
            return []
        proc = _podman("inspect", *ids, "--format", "json", check=False)
        found = json.loads(proc.stdout or "[]")
        return [
            {"ImageName": c.get("ImageName"), "Name": c.get("Name")}
            for c in found
            if not c.get("IsInfra") and c.get("State", {}).get("Running")
        ]

    def _logs(self, played: list[dict]) -> str:
        pods = self._pods(self._instance(played))
        names = [c["Names"] for p in pods for c in p.get("Containers", []) if "infra" not in c["Names"]]
        out = [_podman("logs", "--tail", "15", n, check=False) for n in names]
        return "\n".join((p.stdout + p.stderr).strip() for p in out)

    def wait_ready(self, model: str, played: list[dict], *, timeout: float) -> None:
        """Polls until the readiness probe answers 200, the container dies, or time runs out."""
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        url = self._readiness_url(played)
        next_report = 0.0
        while True:
            status = self.status(model, played)
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
