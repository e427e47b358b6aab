"""What the Kubernetes target reports: changes between rendered and live, and a model's status.

Also how rendered and live objects are compared: only the fields we set, never what the server
owns (status, bookkeeping metadata).
"""

from __future__ import annotations

from collections.abc import Iterable
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from tools.errors import UserError

# Set by the server, never by us: left out when comparing rendered with live.
_SERVER_METADATA = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink")
_SERVER_ANNOTATIONS = (
    "deployment.kubernetes.io/revision",
    "kubectl.kubernetes.io/last-applied-configuration",
)


@dataclass(frozen=True)
class Change:
    """One object's difference between what is rendered and what is live."""

    action: str  # "create", "update", "unchanged" or "delete"
    kind: str
    name: str
    namespace: str | None = None
    fields: tuple[str, ...] = ()  # dotted paths that differ, for "update"

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        detail = f": {', '.join(self.fields)}" if self.fields else ""
        return f"{self.action} {self.kind} {where}{self.name}{detail}"


@dataclass(frozen=True)
class DeploymentStatus:
    """One Deployment as the server reports it: replicas, images, rolled out or not."""

    namespace: str
    name: str
    desired: int
    ready: int
    updated: int
    available: int
    images: tuple[str, ...]  # as in the pod template: repo@sha256:... after resolve
    running_image_ids: tuple[str, ...]  # what the kubelet reports for running pods (empty: no pods)
    rolled_out: bool

    def __str__(self) -> str:
        running = ", ".join(self.running_image_ids) or "no pods running"
        return (
            f"deployment {self.namespace}/{self.name}: {self.ready}/{self.desired} ready, "
            f"{self.updated} updated; image {', '.join(self.images)}; running: {running}"
        )


@dataclass(frozen=True)
class ServiceEndpoint:
    """One Service: where it answers in the cluster (and outside, if a load balancer gave it an address)."""

    namespace: str
    name: str
    cluster_ip: str | None
    ports: tuple[str, ...]  # "http=80/TCP"
    external: tuple[str, ...] = ()  # load balancer addresses, when there are any

    def __str__(self) -> str:
        address = f"{self.name}.{self.namespace}.svc (cluster IP {self.cluster_ip or 'none'})"
        extra = f", external {', '.join(self.external)}" if self.external else ""
        return f"service {address}: {', '.join(self.ports)}{extra}"


@dataclass(frozen=True)
class ModelStatus:
    """Every Deployment and Service of one model, found by its labels."""

    deployments: tuple[DeploymentStatus, ...] = ()
    services: tuple[ServiceEndpoint, ...] = ()

    @property
    def ready(self) -> bool:
        """Every Deployment rolled out (and there is at least one)."""
        return bool(self.deployments) and all(d.rolled_out for d in self.deployments)


class RolloutTimeout(UserError):
    """wait_ready gave up; ``status`` is the last status seen."""

    def __init__(self, message: str, status: ModelStatus):
        super().__init__(message)
        self.status = status


def service_endpoint(body: dict) -> ServiceEndpoint:
    """A live Service object as a ServiceEndpoint."""
    spec = body.get("spec", {})
    ports = tuple(
        f"{p.get('name', '')}={p['port']}/{p.get('protocol', 'TCP')}".lstrip("=")
        for p in spec.get("ports", [])
    )
    ingress = (body.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
    external = tuple(i.get("ip") or i.get("hostname") for i in ingress)
    meta = body["metadata"]
    return ServiceEndpoint(meta["namespace"], meta["name"], spec.get("clusterIP"), ports, external)


# --- comparing ---------------------------------------------------------------------------------------


def comparable(obj: dict) -> dict:
    """``obj`` without what the server owns (status, bookkeeping metadata)."""
    obj = deepcopy(obj)
    obj.pop("status", None)
    meta = obj.get("metadata", {})
    for key in _SERVER_METADATA:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    for key in _SERVER_ANNOTATIONS:
        annotations.pop(key, None)
    if not annotations:
        meta.pop("annotations", None)
    return obj


def differences(live: Any, planned: Any, path: str = "") -> Iterable[str]:
    """Dotted paths where ``planned`` differs from ``live`` (lists element by element)."""
    if isinstance(live, dict) and isinstance(planned, dict):
        for key in sorted(set(live) | set(planned)):
            yield from differences(live.get(key), planned.get(key), f"{path}.{key}" if path else key)
    elif isinstance(live, list) and isinstance(planned, list) and len(live) == len(planned):
        for index, (old, new) in enumerate(zip(live, planned, strict=True)):
            yield from differences(old, new, f"{path}[{index}]")
    elif live != planned:
        yield path or "."
