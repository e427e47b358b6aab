"""The GPU preflight: before apply writes anything, ask the cluster whether it can run the GPU pods.

A GPU pod that no node can take stays Pending forever, and ``apply`` would only notice at its
rollout timeout, after pruning and rolling the old version. So for every pod template that asks
for ``nvidia.com/gpu`` or ``nvidia.com/mig-*`` (what the NVIDIA device plugin advertises), at
least one node must, as the scheduler would judge it:

- advertise the resource in ``status.allocatable``, with at least the pod's count;
- carry the pod's ``nodeSelector`` labels (plus its RuntimeClass's ``scheduling.nodeSelector``);
- have no NoSchedule/NoExecute taint (nor ``spec.unschedulable``) the pod does not tolerate;

and the pod's ``runtimeClassName``, if any, must name a RuntimeClass (node.k8s.io/v1) that exists.
A miss is one ``UserError`` naming the environment file and the field to fix. Reads only: list
nodes, get the RuntimeClass by name (the deployer's ClusterRole, tools/k8s/render/deployer.py).
Pods without GPU requests (every pod of a CPU-only environment) are not checked: nothing is read.
Capacity already taken by running pods is not counted: that is the scheduler's and autoscaler's
business, and a rollout waits for it; a node that can never run the pod is what this catches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from lightkube import ApiError
from lightkube.utils.quantity import parse_quantity

from tools.deploy.kubernetes.client import Cluster
from tools.deploy.release import Release
from tools.errors import UserError
from tools.k8s.schema.environments import environments_dir

GPU_RESOURCE = re.compile(r"nvidia\.com/(gpu|mig-[0-9a-z.]+)")
HARD_EFFECTS = ("NoSchedule", "NoExecute")  # PreferNoSchedule only steers the scheduler
# What the node controller turns spec.unschedulable (kubectl cordon) into; the scheduler honours both.
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


@dataclass(frozen=True)
class GpuPod:
    """What one workload's pods need from a node."""

    workload: str  # "Deployment/gpt2"
    resources: Mapping[str, Decimal]  # extended resource -> count per pod
    node_selector: Mapping[str, str]
    tolerations: Sequence[Mapping]
    runtime_class: str | None


def gpu_pods(objects: Sequence[Mapping]) -> list[GpuPod]:
    """The pod templates among ``objects`` that request GPU or MIG resources."""
    found = []
    for obj in objects:
        pod = (obj.get("spec") or {}).get("template", {}).get("spec")
        if not pod:
            continue
        resources = _pod_requests(pod)
        if resources:
            found.append(
                GpuPod(
                    f"{obj['kind']}/{obj['metadata']['name']}",
                    resources,
                    dict(pod.get("nodeSelector") or {}),
                    list(pod.get("tolerations") or []),
                    pod.get("runtimeClassName"),
                )
            )
    return found


def _pod_requests(pod: Mapping) -> dict[str, Decimal]:
    """GPU requests of a pod as the scheduler sums them: the containers' total, or the largest init
    container's if more. Extended resources are set in limits (requests default to them)."""

    def of(container: Mapping) -> dict[str, Decimal]:
        resources = container.get("resources") or {}
        wanted = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        return {k: parse_quantity(str(v)) for k, v in wanted.items() if GPU_RESOURCE.fullmatch(k)}

    total: dict[str, Decimal] = {}
    for container in pod.get("containers") or []:
        for name, count in of(container).items():
            total[name] = total.get(name, Decimal(0)) + count
    for container in pod.get("initContainers") or []:
        for name, count in of(container).items():
            total[name] = max(total.get(name, Decimal(0)), count)
    return {name: count for name, count in total.items() if count > 0}


def check(cluster: Cluster, release: Release) -> None:
    """Raises a UserError naming the environment field when no node can run a GPU pod of ``release``."""
    pods = gpu_pods(release.objects)
    if not pods:
        return
    problem = _Problem(release)
    nodes = _nodes(cluster, problem)
    for pod in pods:
        selector, tolerations = dict(pod.node_selector), list(pod.tolerations)
        if pod.runtime_class:
            scheduling = _runtime_class(cluster, pod.runtime_class, problem).get("scheduling") or {}
            # What the RuntimeClass admission plugin adds to every pod naming the class.
            extra = scheduling.get("nodeSelector") or {}
            selector.update(extra)
            tolerations += scheduling.get("tolerations") or []
        candidates = nodes
        for resource, count in pod.resources.items():
            candidates = _advertising(candidates, resource, count, nodes, problem)
        labelled = [n for n in candidates if _labels_match(n, selector)]
        if not labelled:
            raise problem.unlabelled(pod, candidates, selector)
        if not any(_tolerated(n, tolerations) for n in labelled):
            raise problem.untolerated(pod, labelled, tolerations)


def _nodes(cluster: Cluster, problem: _Problem) -> list[dict]:
    node = cluster.resource("v1", "Node")
    try:
        return [dict(n) for n in cluster.client.list(node)]
    except ApiError as error:
        raise problem.refused(cluster, "list nodes", error) from None


def _runtime_class(cluster: Cluster, name: str, problem: _Problem) -> dict:
    runtime_class = cluster.resource("node.k8s.io/v1", "RuntimeClass")
    if runtime_class is None:
        raise problem.at(
            "cluster.gpuRuntimeClassName",
            f"the cluster does not serve node.k8s.io/v1 RuntimeClass (Kubernetes {cluster.version}; "
            f"it came in 1.20), so runtimeClassName {name} cannot be resolved",
        )
    try:
        return dict(cluster.client.get(runtime_class, name))
    except ApiError as error:
        if error.status.code == 404:
            raise problem.at(
                "cluster.gpuRuntimeClassName",
                f"the cluster has no RuntimeClass {name} (node.k8s.io/v1); the NVIDIA GPU Operator "
                "creates one named nvidia, or remove the field to use the nodes' default runtime",
            ) from None
        raise problem.refused(cluster, f"get RuntimeClass {name}", error) from None


def _allocatable(node: Mapping, resource: str) -> Decimal:
    value = ((node.get("status") or {}).get("allocatable") or {}).get(resource)
    return parse_quantity(str(value)) if value is not None else Decimal(0)


def _advertising(
    candidates: list[dict], resource: str, count: Decimal, nodes: list[dict], problem: _Problem
) -> list[dict]:
    """The candidates with ``count`` of ``resource`` allocatable; a miss says which field to fix."""
    if not any(_allocatable(n, resource) > 0 for n in nodes):
        raise problem.at(problem.resource_field, f"no node advertises {resource} (allocatable)")
    enough = [n for n in candidates if _allocatable(n, resource) >= count]
    if not enough:
        most = max(nodes, key=lambda n: _allocatable(n, resource))
        raise problem.at(
            problem.count_field,
            f"a pod asks for {_amount(count)} {resource} but no node has that many allocatable "
            f"(most: {_amount(_allocatable(most, resource))} on node {_name(most)})",
        )
    return enough


def _labels_match(node: Mapping, selector: Mapping[str, str]) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())


def _tolerates(toleration: Mapping, taint: Mapping) -> bool:
    """Kubernetes' ToleratesTaint: effect, key, then operator (Exists, or Equal on the value)."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return True
    return toleration.get("value", "") == taint.get("value", "")


def _blocking_taints(node: Mapping, tolerations: Sequence[Mapping]) -> list[Mapping]:
    spec = node.get("spec") or {}
    taints = [t for t in spec.get("taints") or [] if t.get("effect") in HARD_EFFECTS]
    if spec.get("unschedulable"):
        taints.append(UNSCHEDULABLE_TAINT)
    return [t for t in taints if not any(_tolerates(tol, t) for tol in tolerations)]


def _tolerated(node: Mapping, tolerations: Sequence[Mapping]) -> bool:
    return not _blocking_taints(node, tolerations)


def _amount(count: Decimal) -> str:
    return format(count.normalize(), "f")


def _name(node: Mapping) -> str:
    return (node.get("metadata") or {}).get("name", "?")


def _taint(taint: Mapping) -> str:
    value = f"={taint['value']}" if taint.get("value") else ""
    return f"{taint.get('key', '')}{value}:{taint.get('effect')}"


class _Problem:
    """Turns what is missing into one line naming the environment file and its field."""

    def __init__(self, release: Release):
        self.env = release.env
        self.model = release.model
        self.file: Path = environments_dir(release.inputs.root) / f"{self.env.name}.yaml"
        self.resource_field = self.env.gpu_resource_field(self.model)
        self.count_field = f"models.{self.model}.gpu.count"

    def at(self, field: str, message: str) -> UserError:
        return UserError(f"{message}; nothing was applied", file=self.file, field=field)

    def refused(self, cluster: Cluster, what: str, error: ApiError) -> UserError:
        """The server would not answer a read: named with the kubeconfig, whose identity it is."""
        grant = (
            f" (the deployer's ClusterRole from `servectl rbac --env {self.env.name}` grants it; "
            "a cluster admin applies it)"
            if error.status.code == 403
            else ""
        )
        return UserError(
            f"the GPU preflight could not {what}: {error.status.message}{grant}; nothing was applied",
            file=cluster.kubeconfig,
        )

    def _selector_field(self, key: str) -> str:
        if key in self.env.models[self.model].nodeSelector:
            return f"models.{self.model}.nodeSelector"
        if key in self.env.nodeSelector:
            return "nodeSelector"
        return "cluster.gpuRuntimeClassName"  # the RuntimeClass's scheduling.nodeSelector

    def unlabelled(self, pod: GpuPod, candidates: list[dict], selector: Mapping[str, str]) -> UserError:
        resources = ", ".join(pod.resources)
        # The first label no candidate carries names the field; else the combination is what fails.
        missing = [k for k, v in selector.items() if not any(_labels_match(n, {k: v}) for n in candidates)]
        key = (missing or list(selector))[0]
        wanted = ", ".join(f"{k}={v}" for k, v in selector.items() if k in (missing or selector))
        seen = "; ".join(
            f"{_name(n)}: {key}={((n.get('metadata') or {}).get('labels') or {}).get(key, '<none>')}"
            for n in candidates[:3]
        )
        return self.at(
            self._selector_field(key),
            f"no node advertising {resources} (allocatable) is labelled {wanted} ({seen})",
        )

    def untolerated(self, pod: GpuPod, labelled: list[dict], tolerations: Sequence[Mapping]) -> UserError:
        resources = ", ".join(pod.resources)
        blocked = "; ".join(
            f"{_name(n)}: {', '.join(_taint(t) for t in _blocking_taints(n, tolerations))}"
            for n in labelled[:3]
        )
        return self.at(
            f"models.{self.model}.tolerations",
            f"every node advertising {resources} with the pods' labels has a taint they do not "
            f"tolerate ({blocked})",
        )
