"""The Kubernetes half of delivery: server-side apply, diff, prune, delete, status and rollout
waits on a real API server, with lightkube.

Objects are sent exactly as rendered (as lightkube generic resources, typed by the server's own
discovery), so the server validates every field: lightkube's typed models would silently drop a
misspelt field instead. Field manager ``servectl``; server-side dry run for diff and --dry-run.

- ``client``: one checked connection (``connect``) that every verb reuses;
- ``objects``: rendered objects typed by discovery, live objects found by the model's labels;
- ``operations``: the verbs on a connected cluster; ``changes``: what they report;
- ``preflight``: before apply, whether some node can run the GPU pods (resources, labels, taints,
  RuntimeClass);
- ``target``: ``KubernetesTarget``, the ``tools.deploy.target.Target`` for these environments.

The functions below open a connection for one call (tests and scripts); the CLI opens one
``KubernetesTarget`` per command instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from tools.deploy.kubernetes import operations
from tools.deploy.kubernetes.changes import (
    Change,
    DeploymentStatus,
    ModelStatus,
    RolloutTimeout,
    ServiceEndpoint,
)
from tools.deploy.kubernetes.client import FIELD_MANAGER, Cluster, connect
from tools.deploy.kubernetes.target import KubernetesTarget
from tools.k8s.kinds import SHARED_KINDS
from tools.k8s.label_keys import INSTANCE, MANAGED_BY

__all__ = [
    "FIELD_MANAGER",
    "INSTANCE",
    "MANAGED_BY",
    "SHARED_KINDS",
    "Change",
    "Cluster",
    "DeploymentStatus",
    "KubernetesTarget",
    "ModelStatus",
    "RolloutTimeout",
    "ServiceEndpoint",
    "apply",
    "connect",
    "delete",
    "diff",
    "status",
    "wait_ready",
]

Kubeconfig = str | Path | None
Objects = Sequence[Mapping]


def apply(
    objects: Objects, *, kubeconfig: Kubeconfig = None, context: str | None = None, **options
) -> list[Change]:
    """``operations.apply`` on a connection made for this call (options: dry_run, prune, force, progress)."""
    with connect(kubeconfig, context) as cluster:
        return operations.apply(cluster, objects, **options)


def diff(
    objects: Objects, *, kubeconfig: Kubeconfig = None, context: str | None = None, **options
) -> list[Change]:
    """``operations.diff`` on a connection made for this call (options: prune)."""
    with connect(kubeconfig, context) as cluster:
        return operations.diff(cluster, objects, **options)


def delete(target, *, kubeconfig: Kubeconfig = None, context: str | None = None, **options) -> list[Change]:
    """``operations.delete`` on a connection made for this call (options: namespace,
    include_shared, dry_run, progress); ``target`` is rendered objects or a label mapping."""
    with connect(kubeconfig, context) as cluster:
        return operations.delete(cluster, target, **options)


def status(target, *, kubeconfig: Kubeconfig = None, context: str | None = None, **options) -> ModelStatus:
    """``operations.status`` on a connection made for this call (options: namespace)."""
    with connect(kubeconfig, context) as cluster:
        return operations.status(cluster, target, **options)


def wait_ready(
    target, *, kubeconfig: Kubeconfig = None, context: str | None = None, **options
) -> ModelStatus:
    """``operations.wait_ready`` on a connection made for this call (options: namespace,
    timeout, interval, progress)."""
    with connect(kubeconfig, context) as cluster:
        return operations.wait_ready(cluster, target, **options)
