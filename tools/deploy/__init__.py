"""Delivery: one model in one environment, loaded and rendered once, applied through a Target.

- ``flow.Deploy``: loads the inputs and renders once, builds and pushes images, resolves;
- ``target.Target``: the interface (apply, diff, delete, status, endpoint) every place a model
  runs implements; ``release.Release``: the rendered objects its verbs take;
- ``factory.open_target``: picks ``kubernetes.KubernetesTarget`` or ``podman.PodmanTarget``.
"""

from tools.deploy.factory import open_target
from tools.deploy.flow import Deploy

__all__ = ["Deploy", "open_target"]
