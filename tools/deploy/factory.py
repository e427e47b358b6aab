"""Picks the Target for an environment: the one place that looks at ``cluster.kind``."""

from __future__ import annotations

from pathlib import Path

from tools.deploy.target import Target
from tools.k8s.schema.environments import Environment


def open_target(env: Environment, *, kubeconfig: str | Path | None = None) -> Target:
    """The environment's Target with its client connected (for Kubernetes: the kubeconfig read
    and the server's ``/version`` answered, so a bad cluster fails before anything is built)."""
    if env.cluster.kind == "podman":
        from tools.deploy.podman import PodmanTarget

        return PodmanTarget(env)
    from tools.deploy.kubernetes import KubernetesTarget

    return KubernetesTarget.connect(env, kubeconfig)
