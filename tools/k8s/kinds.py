"""The kinds the platform renders and applies, in the one order everything follows.

Rendering emits objects in this order, apply sends them in it (what a kind refers to comes
first) and delete/prune go in reverse. NetworkPolicies come before the Deployment, so no pod of a
model ever runs unprotected.
"""

from __future__ import annotations

from collections.abc import Mapping

from tools.k8s.label_keys import COMPONENT, PLATFORM_COMPONENT

APPLY_ORDER = (
    "Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
    "Role", "RoleBinding", "NetworkPolicy", "Secret", "ConfigMap", "PersistentVolumeClaim", "Deployment",
    "StatefulSet", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ServiceMonitor",
    "PrometheusRule",
)  # fmt: skip
# Shared by every model of the platform: never pruned, deleted only when asked for. (The platform's
# default-deny NetworkPolicy is shared too: it carries the platform's component label.)
SHARED_KINDS = frozenset(APPLY_ORDER[:7])
# What prune, delete and status look for by label: (API group, kind, resource). Only kinds the
# platform renders: the deployer's Role (tools/k8s/render/deployer.py) grants exactly these, so a
# kind added here widens what every deploying identity may do (Secrets are deliberately absent).
MODEL_KINDS = (
    ("networking.k8s.io", "NetworkPolicy", "networkpolicies"), ("", "ConfigMap", "configmaps"),
    ("apps", "Deployment", "deployments"), ("", "Service", "services"),
    ("policy", "PodDisruptionBudget", "poddisruptionbudgets"),
    ("autoscaling", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
    ("monitoring.coreos.com", "PrometheusRule", "prometheusrules"),
)  # fmt: skip
# The shared namespaced kinds every model's manifests carry (tools/k8s/render/platform_objects.py).
SHARED_NAMESPACED = (
    ("", "ServiceAccount", "serviceaccounts"),
    ("rbac.authorization.k8s.io", "Role", "roles"),
    ("rbac.authorization.k8s.io", "RoleBinding", "rolebindings"),
)


def apply_rank(kind: str) -> int:
    """Where ``kind`` goes when applying; unknown kinds go last."""
    return APPLY_ORDER.index(kind) if kind in APPLY_ORDER else len(APPLY_ORDER)


def is_shared(obj: Mapping) -> bool:
    """One of the platform's shared objects: its kind, or the platform's component label, says so."""
    labels = obj["metadata"].get("labels") or {}
    return obj["kind"] in SHARED_KINDS or labels.get(COMPONENT) == PLATFORM_COMPONENT
