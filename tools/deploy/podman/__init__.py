"""The podman half of delivery: a model's resolved manifests run as pods on this machine.

``client`` runs podman, ``play`` turns manifests into what ``podman kube play`` accepts,
``target`` is ``PodmanTarget``, the ``tools.deploy.target.Target`` for podman environments.
"""

from tools.deploy.podman.target import PodmanTarget

__all__ = ["PodmanTarget"]
