"""The deploying identity's RBAC: exactly what apply, prune, delete and status use, never "*".

A cluster admin applies these once per environment (``servectl rbac --env ENV``); the identity in
platform.yaml's ``deployer.subjects`` (CI's certificate, token or exec-plugin user, or a
ServiceAccount) then deploys with nothing more, and outside ``system:masters``:

- a ClusterRole and binding for the cluster-wide objects apply touches: ``get`` and ``patch``
  of the platform's own Namespace, by name (the admin creates it with these objects); and, only
  where the environment gives a model a GPU, what the GPU preflight reads
  (tools/deploy/kubernetes/preflight.py): ``list`` of Nodes (their allocatable resources, labels
  and taints; Nodes are cluster-scoped, so no Role can grant it) and ``get`` of the one
  RuntimeClass ``cluster.gpuRuntimeClassName`` names, by name, when it names one;
- a Role and binding in that namespace: on every model kind (tools/k8s/kinds.py ``MODEL_KINDS``)
  ``get`` (plan), ``list`` (prune, status), ``create`` and ``patch`` (server-side apply creates
  with a PATCH, which the API server also authorizes as create), ``delete`` (prune, delete);
  ``get``/``list`` of Pods (status reads the running digests); ``get``, ``create``, ``patch`` of
  the shared ServiceAccount, Role and RoleBinding; plus the model servers' own Role rules,
  because Kubernetes lets an identity write a Role only with the rights it grants; and ``bind``
  of that one Role, by name, because binding a Role that the same apply is about to create
  cannot be checked against rights held (the server cannot read the Role during the dry run).

Deleting the shared objects (``delete --include-shared``) stays an admin's job: not granted.
"""

from __future__ import annotations

from collections import defaultdict

from tools.k8s.kinds import MODEL_KINDS, SHARED_NAMESPACED
from tools.k8s.render.inputs import RenderInputs
from tools.k8s.render.platform_objects import namespace as namespace_object

RBAC = "rbac.authorization.k8s.io"
MODEL_VERBS = ("get", "list", "create", "patch", "delete")
SHARED_VERBS = ("get", "create", "patch")


def _rules(kinds, verbs: tuple[str, ...]) -> list[dict]:
    by_group: dict[str, list[str]] = defaultdict(list)
    for group, _kind, resource in kinds:
        by_group[group].append(resource)
    return [
        {"apiGroups": [group], "resources": resources, "verbs": list(verbs)}
        for group, resources in by_group.items()
    ]


def deployer_rules(inputs: RenderInputs) -> list[dict]:
    """The namespaced rules of the deployer's Role."""
    server_rules = [
        {"apiGroups": list(r.apiGroups), "resources": list(r.resources), "verbs": list(r.verbs)}
        for r in inputs.platform.role.rules
    ]
    return [
        *_rules(MODEL_KINDS, MODEL_VERBS),
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        # apply --canary reads the canary pods' /metrics through the API server's pod proxy (GET).
        {"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]},
        *_rules(SHARED_NAMESPACED, SHARED_VERBS),
        {
            "apiGroups": [RBAC],
            "resources": ["roles"],
            "resourceNames": [inputs.platform.role.name],
            "verbs": ["bind"],
        },
        *server_rules,
    ]


def cluster_rules(inputs: RenderInputs) -> list[dict]:
    """The ClusterRole's rules: the namespace, by name; the GPU preflight's reads where it runs."""
    env, namespace = inputs.env, inputs.namespace
    namespace_rule = {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [namespace]}
    rules = [{**namespace_rule, "verbs": ["get", "patch"]}]
    if any(env.gpu_resource(model) for model in env.models):
        rules.append({"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]})
        if env.cluster.gpuRuntimeClassName:
            rules.append(
                {
                    "apiGroups": ["node.k8s.io"],
                    "resources": ["runtimeclasses"],
                    "resourceNames": [env.cluster.gpuRuntimeClassName],
                    "verbs": ["get"],
                }
            )
    return rules


def deployer_objects(inputs: RenderInputs) -> list[dict]:
    """Namespace, ClusterRole + binding (this namespace only), Role + binding, for the admin to
    apply; the same for every model of the environment (platform.yaml, the namespace and whether
    the environment has GPU models count)."""
    spec, namespace = inputs.platform.deployer, inputs.namespace
    labels = inputs.platform_labels()
    cluster_name = f"{spec.name}-{namespace}"  # one per namespace: environments may share a cluster
    subjects = [
        {"kind": s.kind, "name": s.name, **({"namespace": s.namespace} if s.namespace else {}),
         **({"apiGroup": RBAC} if s.kind != "ServiceAccount" else {})}
        for s in spec.subjects
    ]  # fmt: skip
    return [
        namespace_object(inputs),
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": cluster_name, "labels": labels},
            "rules": cluster_rules(inputs),
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": cluster_name, "labels": labels},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": cluster_name},
            "subjects": subjects,
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "Role",
            "metadata": {"name": spec.name, "namespace": namespace, "labels": labels},
            "rules": deployer_rules(inputs),
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": spec.name, "namespace": namespace, "labels": labels},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": spec.name},
            "subjects": subjects,
        },
    ]
