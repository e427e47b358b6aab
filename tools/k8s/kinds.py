"""The kinds the platform renders and applies, in the one order everything follows.

Rendering emits objects in this order, apply sends them in it (what a kind refers to comes
first) and delete/prune go in reverse.
"""

from __future__ import annotations

APPLY_ORDER = (
    "Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
    "Role", "RoleBinding", "Secret", "ConfigMap", "PersistentVolumeClaim", "Deployment", "StatefulSet",
    "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ServiceMonitor", "PrometheusRule",
)  # fmt: skip
# Shared by every model of the platform: never pruned, deleted only when asked for.
SHARED_KINDS = frozenset(APPLY_ORDER[:7])
# What prune, delete and status look for by label: (API group, kind); any served version will do.
MODEL_KINDS = (
    ("", "Secret"), ("", "ConfigMap"), ("", "PersistentVolumeClaim"), ("apps", "Deployment"),
    ("apps", "StatefulSet"), ("", "Service"), ("policy", "PodDisruptionBudget"),
    ("autoscaling", "HorizontalPodAutoscaler"), ("monitoring.coreos.com", "ServiceMonitor"),
    ("monitoring.coreos.com", "PrometheusRule"),
)  # fmt: skip


def apply_rank(kind: str) -> int:
    """Where ``kind`` goes when applying; unknown kinds go last."""
    return APPLY_ORDER.index(kind) if kind in APPLY_ORDER else len(APPLY_ORDER)
