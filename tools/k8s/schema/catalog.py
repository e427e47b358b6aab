"""Every data file under one repo root, each read, parsed and validated at most once.

Loading an environment checks it against every model and runtime it names; rendering needs the
model, its runtime, the environment and platform.yaml. Without sharing, resolving every model in
every environment re-reads each model's files once per pair (quadratic in the number of models).
A ``Catalog`` is made per command (or per benchmark run) and shared by every load in it; it never
notices files changing underneath it, so make a new one after editing files.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from tools.errors import UserError
from tools.k8s.schema import specs
from tools.k8s.schema.specs import ModelSpec, PlatformSpec, RuntimeSpec
from tools.labels import Label
from tools.paths import REPO_ROOT


class Catalog:
    """Cached loaders for one root: ``model``, ``runtime``, ``environment``, ``platform``."""

    def __init__(self, root: Path = REPO_ROOT):
        self.root = root
        self._models: dict[str, ModelSpec] = {}
        self._runtimes: dict[str, RuntimeSpec] = {}
        self._runtime_metrics: dict = {}
        self._environments: dict = {}

    @cached_property
    def model_names(self) -> list[str]:
        """The directories under models/ with a model.yaml, sorted."""
        return specs.known_models(self.root)

    @cached_property
    def environment_names(self) -> list[str]:
        """The files platform/environments/<env>.yaml, sorted: the one list of environments."""
        from tools.k8s.schema.environments import known_environments

        return known_environments(self.root)

    @cached_property
    def platform(self) -> PlatformSpec:
        """platform/platform.yaml, checked."""
        return specs.load_platform(self.root)

    def model(self, name: str) -> ModelSpec:
        """models/<name>/model.yaml, checked (an unknown name lists the known ones)."""
        if name not in self._models:
            if name not in self.model_names:
                raise UserError(f"unknown model {name!r}; known models: {', '.join(self.model_names)}")
            self._models[name] = specs.read_model(name, self.root)
        return self._models[name]

    def image_labels(self, name: str) -> list[Label]:
        """Every image model ``name``'s manifests may name, in any environment: its variants
        (model.yaml ``images``), then its runtime's signature verifier images."""
        spec = self.model(name)
        return [*spec.images.labels().values(), *self.runtime(spec.runtime).verifier_images()]

    def runtime(self, name: str) -> RuntimeSpec:
        """runtimes/<name>/runtime.yaml, checked."""
        if name not in self._runtimes:
            self._runtimes[name] = specs.load_runtime(name, self.root)
        return self._runtimes[name]

    def runtime_metrics(self, name: str):
        """runtimes/<name>/observability.yaml, checked."""
        from tools.k8s.schema.runtime_metrics import load_runtime_metrics

        if name not in self._runtime_metrics:
            self._runtime_metrics[name] = load_runtime_metrics(name, self.root)
        return self._runtime_metrics[name]

    def environment(self, name: str):
        """The checked ``Environment`` of platform/environments/<name>.yaml."""
        from tools.k8s.schema.environments import environments_dir, load_environment_file

        if name not in self._environments:
            if name not in self.environment_names:
                known = ", ".join(self.environment_names)
                raise UserError(f"unknown environment {name!r}; known environments: {known}")
            path = environments_dir(self.root) / f"{name}.yaml"
            self._environments[name] = load_environment_file(path, self.root, catalog=self)
        return self._environments[name]
