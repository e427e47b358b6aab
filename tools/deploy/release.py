"""One model's rendered objects for one environment: what every Target verb acts on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tools.k8s.render.inputs import RenderInputs
from tools.k8s.schema.environments import Environment


@dataclass(frozen=True)
class Release:
    """The loaded inputs and the objects rendered from them, in apply order.

    ``digests`` is None while images are still Bazel labels (enough for delete and status, which
    find objects by labels); after resolve it holds label -> ``sha256:<hex>`` for every image.
    """

    inputs: RenderInputs
    objects: list[dict]
    digests: Mapping[str, str] | None = None

    @property
    def model(self) -> str:
        """The model's name."""
        return self.inputs.name

    @property
    def env(self) -> Environment:
        """The environment the objects were rendered for."""
        return self.inputs.env

    @property
    def resolved(self) -> bool:
        """Whether every image is pinned by digest."""
        return self.digests is not None

    def images(self) -> list[str]:
        """The container images of the release's Deployments (``registry/repo@sha256:...`` once resolved)."""
        return [
            container["image"]
            for obj in self.objects
            if obj.get("kind") == "Deployment"
            for container in obj["spec"]["template"]["spec"]["containers"]
        ]
