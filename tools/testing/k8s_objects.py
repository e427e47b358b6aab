"""Small rendered object sets for the cluster tests, and the v1.20 API-version shim they need.

``platform_objects`` + ``model_objects`` mirror what ``tools.k8s.render.resolve`` renders for one model
(shared Namespace/ServiceAccount/RBAC, then ConfigMap, Deployment, Service, PDB, HPA), small enough
to read in a test. They carry the labels apply prunes by.

The test API server is v1.20 (the newest buildable here): it has no autoscaling/v2 (1.23) and no
policy/v1 (1.21). ``for_kubernetes_1_20`` rewrites those two to autoscaling/v2beta2 and
policy/v1beta1, whose fields are the same for what we render. ``crd_for_kubernetes_1_20`` drops the
``default: ""`` entries of a CRD schema, which v1.20 rejects (it reads them as null: "must be of
type string"), as the Prometheus Operator's ServiceMonitor CRD has. Both are for tests only:
production manifests keep the current versions and a 1.20 cluster rejects them with a clear error.
"""

from __future__ import annotations

import time
from copy import deepcopy

from tools.deploy import kubernetes as cluster
from tools.k8s.label_keys import INSTANCE, MANAGED_BY, NAME, PART_OF

_V1_20 = {
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "autoscaling/v2beta2",
    ("policy/v1", "PodDisruptionBudget"): "policy/v1beta1",
}
# A syntactically real digest reference; the API server stores images, it never pulls them.
TEST_IMAGE = "127.0.0.1:5000/models/yolo/image@sha256:" + "ab" * 32


def for_kubernetes_1_20(objects: list[dict]) -> list[dict]:
    """Copies of ``objects`` with autoscaling/v2 and policy/v1 rewritten to their v1.20 versions."""
    result = []
    for obj in objects:
        obj = deepcopy(obj)
        obj["apiVersion"] = _V1_20.get((obj["apiVersion"], obj["kind"]), obj["apiVersion"])
        result.append(obj)
    return result


def crd_for_kubernetes_1_20(crd: dict) -> dict:
    """A copy of ``crd`` without empty-string schema defaults; everything else validates as before."""

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if not (k == "default" and v == "")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(crd)


def labels(model: str, **extra: str) -> dict[str, str]:
    return {
        NAME: model,
        INSTANCE: model,
        PART_OF: "creativeflow-ai-serving",
        MANAGED_BY: "servectl",
        **extra,
    }


def platform_objects(namespace: str) -> list[dict]:
    """The shared objects every model's rendering starts with."""
    shared = {INSTANCE: "platform", MANAGED_BY: "servectl"}
    meta = {"namespace": namespace, "labels": shared}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": shared}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ai-model-server-sa", **meta},
         "automountServiceAccountToken": False},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "ai-model-server-role", **meta},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "ai-model-server-rb", **meta},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ai-model-server-role"},
         "subjects": [{"kind": "ServiceAccount", "name": "ai-model-server-sa", "namespace": namespace}]},
    ]  # fmt: skip


def model_objects(model: str, namespace: str, *, image: str = TEST_IMAGE, replicas: int = 1) -> list[dict]:
    """One model's objects, newest API versions (pass through ``for_kubernetes_1_20`` for the test server)."""
    meta = {"namespace": namespace, "labels": labels(model)}
    selector = {NAME: model, INSTANCE: model}
    container = {
        "name": model,
        "image": image,
        "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": f"{model}-config"}}],
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                      "limits": {"cpu": "1", "memory": "1Gi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8000}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "readOnlyRootFilesystem": True,
                            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }  # fmt: skip
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{model}-config", **meta},
         "data": {"MODEL_NAME": model, "LOG_LEVEL": "info"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": model, **meta},
         "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                  "template": {"metadata": {"labels": labels(model)},
                               "spec": {"serviceAccountName": "ai-model-server-sa",
                                        "automountServiceAccountToken": False,
                                        "containers": [container],
                                        "volumes": [{"name": "tmp", "emptyDir": {}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": model, **meta},
         "spec": {"selector": selector,
                  "ports": [{"name": "http", "port": 80, "targetPort": 8000, "protocol": "TCP"}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": model, **meta},
         "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": {"name": model, **meta},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": model},
                  "minReplicas": 1, "maxReplicas": 3,
                  "metrics": [{"type": "Resource", "resource": {
                      "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}},
    ]  # fmt: skip


def install_crd(kubeconfig, crd: dict, *, timeout: float = 30.0) -> None:
    """Applies ``crd`` (made v1.20-safe) and waits until the server serves its kind, as a cluster
    with the operator installed would. Idempotent: applying it again changes nothing."""
    cluster.apply([crd_for_kubernetes_1_20(crd)], kubeconfig=kubeconfig)
    spec = crd["spec"]
    api_version = f"{spec['group']}/{next(v['name'] for v in spec['versions'] if v.get('served', True))}"
    deadline = time.monotonic() + timeout
    while True:
        with cluster.connect(kubeconfig) as connected:
            if connected.resource(api_version, spec["names"]["kind"]) is not None:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{spec['names']['kind']} not served {timeout:g} s after installing its CRD")
        time.sleep(0.2)
