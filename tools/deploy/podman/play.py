"""Resolved manifests turned into what ``podman kube play`` runs, and what is read back from it.

podman plays the Deployment (its ConfigMaps become files, see ``_materialize_config_maps``);
Namespace, RBAC, Service, HPA, PDB and ServiceMonitor only mean something to a control plane.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from tools.errors import UserError
from tools.k8s.label_keys import ENVIRONMENT, INSTANCE, SLOT


def playable(
    objects: Iterable[Mapping], host_ports: Mapping[str, int], *, env_name: str, state_dir: Path
) -> list[dict]:
    """The Deployment, with one replica, ports published on loopback and ConfigMaps as files."""
    objects = [copy.deepcopy(dict(o)) for o in objects]
    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    if len(deployments) != 1:
        raise UserError(f"expected one Deployment per model, got {len(deployments)}")
    config_maps = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "ConfigMap"}
    _materialize_config_maps(deployments[0]["spec"]["template"]["spec"], config_maps, state_dir)
    played = deployments
    # Pods of two podman environments on one machine must not collide: podman names a pod
    # after its Deployment, and status/delete find pods by labels.
    deployments[0]["metadata"]["name"] = f"{env_name}-{deployments[0]['metadata']['name']}"
    spec = deployments[0]["spec"]
    spec["template"]["metadata"].setdefault("labels", {})[ENVIRONMENT] = env_name
    spec["replicas"] = 1  # host ports cannot be shared between replicas on one machine
    # What a kubelet does for a Deployment's pods. podman acts on it when the server process dies
    # (crash, OOM kill, kill -9): conmon's exit command restarts the container and counts it.
    # It does not when podman itself stops the container (podman stop/kill): an operator's stop.
    spec["template"]["spec"]["restartPolicy"] = "Always"
    published = set()
    for container in spec["template"]["spec"]["containers"]:
        # podman turns these into healthchecks driven by systemd timers, which this machine
        # does not run; readiness is polled by wait_ready instead.
        container.pop("livenessProbe", None)
        container.pop("startupProbe", None)
        kept = []
        for port in container.get("ports", []):
            host_port = host_ports.get(port.get("name", "")) or host_ports.get(str(port["containerPort"]))
            if host_port:
                port["hostPort"] = int(host_port)
                port["hostIP"] = "127.0.0.1"
                published.add(_port_name(port))
                kept.append(port)
        # podman 4.3 publishes a containerPort without hostPort on 0.0.0.0:<containerPort>: on
        # every interface, and colliding with a second pod (a new version) on the same port.
        if "ports" in container:
            container["ports"] = kept
    missing = set(host_ports) - published
    if missing:
        raise UserError(f"hostPorts name no container port: {sorted(missing)}")
    return played


def _materialize_config_maps(pod: dict, config_maps: Mapping[str, dict], state_dir: Path) -> None:
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
        directory = state_dir / "configmaps" / f"{cm_name}-{hashlib.sha256(content).hexdigest()[:12]}"
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


def placed(played: list[dict], ports: Mapping[str, int], slot: str) -> list[dict]:
    """The same pod as slot ``slot`` of the model (its name and SLOT label), publishing each port
    on its own loopback port (port name -> port) instead of the environment's fixed one, which
    the model's front proxy owns (tools/deploy/podman/front.py)."""
    played = copy.deepcopy(played)
    spec = deployment(played)
    spec["metadata"]["name"] += f"-{slot}"
    spec["spec"]["template"]["metadata"]["labels"][SLOT] = slot
    for container in spec["spec"]["template"]["spec"]["containers"]:
        for port in container.get("ports", []):
            if "hostPort" in port:
                port["hostPort"] = ports[_port_name(port)]
    return played


def slot_of(played: list[dict]) -> str | None:
    """The slot a placed pod plays in, None for a pod on the environment's fixed ports."""
    return deployment(played)["spec"]["template"]["metadata"]["labels"].get(SLOT)


def published(played: list[dict]) -> dict[str, int]:
    """Every loopback port the pod publishes, by port name (or number)."""
    containers = deployment(played)["spec"]["template"]["spec"]["containers"]
    return {_port_name(p): p["hostPort"] for c in containers for p in c.get("ports", []) if "hostPort" in p}


def _port_name(port: Mapping) -> str:
    return port.get("name") or str(port["containerPort"])


def deployment(played: list[dict]) -> dict:
    """The one Deployment of a played manifest."""
    return next(o for o in played if o["kind"] == "Deployment")


def instance_of(played: list[dict]) -> str:
    """The instance label value the played pods carry."""
    labels = deployment(played)["spec"]["template"]["metadata"]["labels"]
    return labels.get(INSTANCE) or labels[next(iter(labels))]


# -- the verbs -------------------------------------------------------------------------------


def readiness_url(played: list[dict]) -> str | None:
    """The readiness probe's URL on the published loopback port, or None without an HTTP probe."""
    container = deployment(played)["spec"]["template"]["spec"]["containers"][0]
    probe = (container.get("readinessProbe") or {}).get("httpGet")
    if not probe:
        return None
    by_name = {p.get("name"): p for p in container.get("ports", [])}
    by_number = {p["containerPort"]: p for p in container.get("ports", [])}
    port = by_name.get(probe["port"]) or by_number.get(probe["port"])
    if not port or "hostPort" not in port:
        return None
    return f"http://127.0.0.1:{port['hostPort']}{probe.get('path', '/')}"


def endpoint_url(played: list[dict]) -> str | None:
    """The base URL of the first published port."""
    container = deployment(played)["spec"]["template"]["spec"]["containers"][0]
    for port in container.get("ports", []):
        if "hostPort" in port:
            return f"http://127.0.0.1:{port['hostPort']}"
    return None
