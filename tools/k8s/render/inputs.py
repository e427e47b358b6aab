"""Everything one model's manifests are rendered from, loaded and checked once, and its labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tools.errors import UserError
from tools.k8s.label_keys import COMPONENT, INSTANCE, MANAGED_BY, NAME, PART_OF, PLATFORM_COMPONENT, VERSION
from tools.k8s.schema.catalog import Catalog
from tools.k8s.schema.environments import Environment, ModelEnvironment, environments_dir
from tools.k8s.schema.runtime_metrics import RuntimeMetrics
from tools.k8s.schema.safe_types import expand
from tools.k8s.schema.specs import ModelSpec, PlatformSpec, RuntimeSpec
from tools.labels import Label
from tools.paths import REPO_ROOT


@dataclass(frozen=True)
class RenderInputs:
    """The loaded, cross-checked inputs of one model in one environment."""

    model: ModelSpec
    runtime: RuntimeSpec
    env: Environment
    platform: PlatformSpec
    root: Path
    metrics: RuntimeMetrics  # runtimes/<r>/observability.yaml, for tools/observability

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def namespace(self) -> str:
        """The environment's namespace."""
        return self.env.namespace

    @property
    def placement(self) -> ModelEnvironment:
        """This model's entry in the environment: replicas, resources, GPUs, scheduling."""
        return self.env.models[self.model.name]

    @property
    def gpu_resource(self) -> str | None:
        """The extended resource (GPU or MIG profile) the pods request, or None."""
        return self.env.gpu_resource(self.model.name)

    @property
    def image_label(self) -> Label:
        """The image variant the environment's device picks (model.yaml ``images``; the
        environment's load already refused a device the model has no image for)."""
        label = self.model.images.label(self.placement.device)
        assert label is not None, "checked by tools.k8s.schema.environments._check_models"
        return label

    def expand(self, text: str) -> str:
        """runtime.yaml's placeholders filled for this model: {model}, {version}, {port:<name>}."""
        return expand(text, model=self.name, version=self.model.version, ports=self.runtime.port_numbers())

    def selector(self) -> dict[str, str]:
        """The labels that pick this model's pods; never changes, because selectors are immutable."""
        return {NAME: self.model.name, INSTANCE: self.model.name}

    def labels(self) -> dict[str, str]:
        """Every object of this model carries these; apply prunes and status finds objects by them."""
        return {
            **self.selector(),
            PART_OF: self.platform.partOf,
            VERSION: self.model.version,
            MANAGED_BY: self.platform.managedBy,
            COMPONENT: "model-server",
        }

    def platform_labels(self) -> dict[str, str]:
        """The shared objects (namespace, RBAC) are their own instance, so pruning a model spares them."""
        return {
            NAME: self.platform.partOf,
            INSTANCE: self.platform.partOf,
            PART_OF: self.platform.partOf,
            VERSION: self.platform.version,
            MANAGED_BY: self.platform.managedBy,
            COMPONENT: PLATFORM_COMPONENT,
        }

    def metadata(self, name: str, *, namespaced: bool = True) -> dict:
        """Object metadata: name, namespace (unless cluster-wide) and the model's labels."""
        meta: dict = {"name": name}
        if namespaced:
            meta["namespace"] = self.namespace
        meta["labels"] = self.labels()
        return meta


def load_inputs(
    model: str, env: str, *, root: Path = REPO_ROOT, catalog: Catalog | None = None
) -> RenderInputs:
    """Loads and cross-checks model.yaml, its runtime.yaml, the environment and platform.yaml.

    ``catalog`` shares what is loaded with other calls (each file parsed once); by default the
    files are read for this call.
    """
    catalog = catalog or Catalog(root)
    root = catalog.root
    model_spec = catalog.model(model)
    environment = catalog.environment(env)
    if model not in environment.models:
        raise UserError(
            f"environment {env!r} has no entry for model {model!r}",
            file=environments_dir(root) / f"{env}.yaml",
            field=f"models.{model}",
        )
    return RenderInputs(
        model=model_spec,
        runtime=catalog.runtime(model_spec.runtime),
        env=environment,
        platform=catalog.platform,
        root=root,
        metrics=catalog.runtime_metrics(model_spec.runtime),
    )
