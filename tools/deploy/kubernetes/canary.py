"""A canary on a cluster: ``<model>-canary``, a second Deployment of the new version behind the
model's Service, judged by its pods' own /metrics (through the API server's pod proxy), then
promoted (the release applied as usual, which prunes the canary) or deleted.

Selectors. The canary's pods carry every label of the stable pod template, so the model's
Service (which selects on a subset of them) sends them requests in proportion to their number;
its own Deployment selector adds ``TRACK: canary``. The stable Deployment's selector is immutable
on live objects and so cannot gain a ``track`` key: it also matches the canary's pods. That is
safe because controllers act only through ControllerRefs: a Deployment manages the ReplicaSets it
owns and adopts only orphans matching its selector, a ReplicaSet likewise adopts only orphan pods,
and each ReplicaSet's own selector carries its ``pod-template-hash``, which the other
Deployment's pods never have (Kubernetes' ControllerRef proposal, kubernetes/kubernetes
docs/proposals/controller-ref.md, merged in b7490d5c: "solve a problem of overlapping
controllers that fight over some resources"; implemented for Deployments in 1.6). What still
counts both is anything selecting by the shared labels alone: the Service (wanted) and
``servectl status`` (which lists the canary Deployment as the model's, also wanted).

Reading metrics: ``GET /api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy{path}`` (served by every
API server version, v1.20 included), which needs RBAC ``get`` on ``pods/proxy`` (``servectl
rbac``). The API server dials the pod's IP, so it needs a kubelet-run pod: the test API server
has none, and its tests cover the objects and the decision (tools/deploy/canary.py) separately.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence

import httpx2

from tools.deploy.canary import Counts, NoRequestMetrics, breach, counts
from tools.deploy.kubernetes import operations
from tools.deploy.kubernetes.changes import RolloutTimeout
from tools.deploy.kubernetes.client import FIELD_MANAGER, Cluster
from tools.deploy.kubernetes.objects import delete_one, prepare
from tools.errors import UserError
from tools.k8s.label_keys import TRACK
from tools.k8s.schema.environments import CanaryPolicy
from tools.k8s.schema.runtime_metrics import RuntimeMetrics

Progress = Callable[[str], None]
MetricsReader = Callable[[Cluster, str, str, int, str], str]


def canary_deployment(objects: Sequence[Mapping], percent: int) -> dict:
    """The release's Deployment as ``<name>-canary``: selector and pods add ``TRACK: canary``;
    replicas so that canary / (stable + canary) is about ``percent``%, at least one."""
    (stable,) = [o for o in objects if o.get("kind") == "Deployment"]
    body = copy.deepcopy(dict(stable))
    body["metadata"]["name"] += "-canary"
    spec = body["spec"]
    stable_replicas = spec.get("replicas", 1)
    spec["replicas"] = max(1, round(stable_replicas * percent / (100 - percent)))
    spec["selector"]["matchLabels"][TRACK] = "canary"
    spec["template"]["metadata"].setdefault("labels", {})[TRACK] = "canary"
    return body


def metrics_port(objects: Sequence[Mapping]) -> tuple[int, str]:
    """(container port, path) the ServiceMonitor scrapes, resolved to the pod's port number."""
    (deployment,) = [o for o in objects if o.get("kind") == "Deployment"]
    monitors = [o for o in objects if o.get("kind") == "ServiceMonitor"]
    endpoint = monitors[0]["spec"]["endpoints"][0] if monitors else {"port": "http", "path": "/metrics"}
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for port in container.get("ports", []):
            if endpoint["port"] in (port.get("name"), port["containerPort"]):
                return port["containerPort"], endpoint.get("path", "/metrics")
    name = deployment["metadata"]["name"]
    raise UserError(f"the metrics port {endpoint['port']!r} is no container port of Deployment {name}")


def pod_proxy_metrics(cluster: Cluster, namespace: str, pod: str, port: int, path: str) -> str:
    """One pod's metrics text through the API server's pod proxy."""
    response = cluster.http.get(f"/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy{path}")
    if response.is_error:
        raise NoRequestMetrics(f"pod proxy to {pod}:{port}{path} answered {response.status_code}")
    return response.text


def judge(
    cluster: Cluster,
    objects: Sequence[Mapping],
    percent: int,
    policy: CanaryPolicy,
    vocabulary: RuntimeMetrics,
    *,
    timeout: float,
    interval: float = 2.0,
    progress: Progress | None = None,
    read: MetricsReader = pod_proxy_metrics,
) -> str | None:
    """Runs the canary beside the serving Deployment and watches it, counting requests and errors
    as the runtime's metric ``vocabulary`` does; the threshold breached (the
    canary is then deleted, the stable Deployment untouched), or None (the canary is left for the
    caller's apply to prune as it rolls the stable Deployment to the same version)."""
    say = progress or (lambda _line: None)
    if not operations.status(cluster, objects).ready:
        raise UserError("--canary needs the model rolled out and ready; apply once without --canary first")
    body = canary_deployment(objects, percent)
    (canary,) = prepare(cluster, [body])
    name = canary.name
    say(f"{name}: {body['spec']['replicas']} replica(s) beside the serving Deployment (about {percent}%)")
    cluster.client.apply(canary.resource(body), field_manager=FIELD_MANAGER, force=True)
    try:
        found = _watch(cluster, objects, body, (policy, vocabulary), timeout, interval, say, read)
    except BaseException:
        delete_one(cluster, canary)
        raise
    if found:
        delete_one(cluster, canary)
    return found


def _watch(cluster, objects, body, judged, timeout, interval, say, read) -> str | None:
    policy, vocabulary = judged
    namespace = body["metadata"]["namespace"]
    try:  # not ready, no pods get requests from the Service (its endpoints list only ready pods)
        operations.wait_ready(cluster, [body], timeout=timeout, interval=interval, progress=say)
    except RolloutTimeout as error:
        return f"the canary was {error}"
    port, path = metrics_port(objects)
    pod_kind = cluster.resource("v1", "Pod")
    labels = body["spec"]["selector"]["matchLabels"]

    def scrape() -> Counts:
        listed = cluster.client.list(pod_kind, namespace=namespace, labels=labels)
        pods = [p["metadata"]["name"] for p in listed]
        if not pods:
            raise NoRequestMetrics("the canary has no pods")
        total = Counts(0, 0)
        for pod in pods:
            total += counts(read(cluster, namespace, pod, port, path), vocabulary)
        return total

    try:
        start, opened = scrape(), time.monotonic()
        while True:
            time.sleep(interval)
            final = time.monotonic() - opened >= policy.windowSeconds
            window = scrape() - start
            found = breach(window, policy, final=final)
            if found or final:
                say(f"canary answered {window.requests:.0f} request(s), {window.errors:.0f} error(s)")
                return found
    except (NoRequestMetrics, httpx2.TransportError) as error:
        return f"its /metrics could not be read: {error}"
