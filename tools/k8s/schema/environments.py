"""Environments as typed data: ``platform/environments/<env>.yaml``, one file per environment.

Adding an environment is adding one file. The schema is strict (``extra="forbid"``) and every
cross-field rule (HPA bounds, MIG profiles, host ports only for podman) is checked here, before
anything is rendered, so bad data is one ``UserError`` naming the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from lightkube.utils.quantity import parse_quantity
from pydantic import Field, StrictBool, ValidationError, model_validator

from tools.errors import UserError
from tools.k8s.schema.catalog import Catalog
from tools.k8s.schema.safe_types import (
    ContextName,
    DnsLabel,
    DnsSubdomain,
    HostPort,
    LabelKey,
    LabelValue,
    PortName,
    Quantity,
    Registry,
)
from tools.k8s.schema.specs import Device, Strict, validation_error
from tools.paths import REPO_ROOT
from tools.yamlio import load_yaml

# MIG profiles the NVIDIA device plugin exposes as resources under the "mixed" strategy, for the
# GPUs that support MIG (NVIDIA MIG User Guide, "Supported MIG Profiles": A30 24GB, A100 40GB,
# A100/H100 80GB). A closed list: a typo must fail here, not leave a pod Pending forever.
MIG_PROFILES = (
    "nvidia.com/mig-1g.6gb",
    "nvidia.com/mig-2g.12gb",
    "nvidia.com/mig-4g.24gb",
    "nvidia.com/mig-1g.5gb",
    "nvidia.com/mig-2g.10gb",
    "nvidia.com/mig-3g.20gb",
    "nvidia.com/mig-4g.20gb",
    "nvidia.com/mig-7g.40gb",
    "nvidia.com/mig-1g.10gb",
    "nvidia.com/mig-1g.20gb",
    "nvidia.com/mig-2g.20gb",
    "nvidia.com/mig-3g.40gb",
    "nvidia.com/mig-4g.40gb",
    "nvidia.com/mig-7g.80gb",
)
MigProfile = Literal[MIG_PROFILES]  # type: ignore[valid-type]


class Cluster(Strict):
    """Where the environment's models run: podman here, or a Kubernetes context."""

    kind: Literal["podman", "kubernetes"]
    context: ContextName | None = None  # kubeconfig context; None: the kubeconfig's current one
    # The RuntimeClass every GPU pod names (pod spec runtimeClassName), for clusters whose GPU nodes
    # do not run the NVIDIA container runtime by default; None: the node's default runtime. A fact
    # about the cluster, so it is said once here, not per model; CPU pods never get it.
    gpuRuntimeClassName: DnsSubdomain | None = None

    @model_validator(mode="after")
    def _context_for_kubernetes(self) -> Cluster:
        if self.kind == "podman" and self.context is not None:
            raise ValueError("context is only meaningful for kind: kubernetes")
        return self


class Features(Strict):
    # StrictBool: "yes", "on" or 1 in a data file are typos, not true.
    """Switches an environment turns on."""

    enableModelSpecificMetrics: StrictBool = False  # a ServiceMonitor per model (needs prometheus-operator)
    enableAdvancedGPUFeaturesMIG: StrictBool = False  # GPU models take their MIG profile, not a whole GPU
    # Every model's weights must carry a model.sig that verifies with the model signing key
    # (platform/supply-chain.yaml models.publicKey): apply's gate checks the image, and the pods
    # check again before they load (the runtime's modelSignature in runtime.yaml).
    verifyModelSignatures: StrictBool = False


class Toleration(Strict):
    """A pod toleration (core/v1 Toleration)."""

    key: LabelKey | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    @model_validator(mode="after")
    def _exists_has_no_value(self) -> Toleration:
        if self.operator == "Exists" and self.value is not None:
            raise ValueError("a toleration with operator Exists takes no value")
        return self


class Amounts(Strict):
    """CPU and memory quantities."""

    cpu: Quantity
    memory: Quantity


class Resources(Strict):
    """Requests and limits; requests may not exceed limits."""

    requests: Amounts
    limits: Amounts

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        for kind in ("cpu", "memory"):
            request, limit = getattr(self.requests, kind), getattr(self.limits, kind)
            if parse_quantity(request) > parse_quantity(limit):
                raise ValueError(f"requests.{kind} ({request}) exceeds limits.{kind} ({limit})")
        return self


class Autoscaling(Strict):
    """HPA bounds and targets."""

    minReplicas: int = Field(ge=1)
    maxReplicas: int = Field(ge=1)
    targetCPUUtilizationPercentage: int = Field(default=70, ge=1, le=100)
    targetGPUUtilizationPercentage: int = Field(default=80, ge=1, le=100)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.minReplicas > self.maxReplicas:
            raise ValueError(f"minReplicas ({self.minReplicas}) > maxReplicas ({self.maxReplicas})")
        return self


class Gpu(Strict):
    """``kind``: none, a whole ``nvidia.com/gpu``, or always one MIG profile. With a whole GPU,
    ``migProfile`` is what the model takes instead once the environment turns MIG on."""

    kind: Literal["none", "nvidia.com/gpu"] | MigProfile = "none"
    count: int = Field(default=1, ge=1, le=8)
    migProfile: MigProfile | None = None

    @model_validator(mode="after")
    def _profile_needs_gpu(self) -> Gpu:
        if self.migProfile is not None and self.kind != "nvidia.com/gpu":
            raise ValueError(
                "migProfile is the MIG alternative to kind: nvidia.com/gpu; set one or the other"
            )
        return self


class ModelEnvironment(Strict):
    """One model's placement in an environment."""

    replicas: int = Field(ge=0)
    autoscaling: Autoscaling | None = None  # None: a fixed replica count, no HPA
    resources: Resources
    gpu: Gpu = Gpu()
    nodeSelector: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    # Loopback ports the local (podman) runner publishes, by the runtime's port names.
    hostPorts: dict[PortName, HostPort] = Field(default_factory=dict)

    @property
    def device(self) -> Device:
        """``gpu`` when the environment gives the model a GPU or MIG slice, else ``cpu``: the image
        variant of model.yaml's ``images`` the model runs here."""
        return "cpu" if self.gpu.kind == "none" else "gpu"


class RegistryTLS(Strict):
    """How push trusts the registry (tools/oci/push.py). Default: HTTPS verified against the
    system CA bundle. Credentials never live here: push reads them where docker/podman keep them."""

    caFile: Path | None = None  # PEM CA trusted in addition to the system bundle; relative: to the repo root
    insecure: StrictBool = False  # plain HTTP (or unverified TLS): loopback registries only

    @model_validator(mode="after")
    def _one_or_the_other(self) -> RegistryTLS:
        if self.insecure and self.caFile is not None:
            raise ValueError("caFile is meaningless with insecure: true (nothing is verified)")
        return self


class NetworkAccess(Strict):
    """Who may reach the models; the namespace's default-deny NetworkPolicy refuses everyone else
    (tools/k8s/render/network.py). Namespaces are named, never "any"."""

    servingFrom: list[DnsLabel] = Field(default_factory=list)  # may call the serving ports
    monitoringNamespace: DnsLabel | None = None  # Prometheus's: may scrape the metrics port


class CanaryPolicy(Strict):
    """How ``apply --canary P`` judges a canary (tools/deploy/canary.py): its own /metrics are read
    for ``windowSeconds``; it is rolled back when more than ``maxErrorRatio`` of the client
    requests it answered were 5xx, or when it answered fewer than ``minRequests`` (too little to
    judge), and promoted otherwise."""

    windowSeconds: float = Field(default=60, gt=0, le=3600)
    maxErrorRatio: float = Field(default=0.01, ge=0, le=1)
    minRequests: int = Field(default=20, ge=0)


class Environment(Strict):
    """platform/environments/<env>.yaml."""

    name: DnsLabel
    registry: Registry
    registryTLS: RegistryTLS = RegistryTLS()
    namespace: DnsLabel
    cluster: Cluster
    features: Features = Features()
    network: NetworkAccess = NetworkAccess()
    canary: CanaryPolicy = CanaryPolicy()
    nodeSelector: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    models: dict[DnsLabel, ModelEnvironment]

    def gpu_resource(self, model: str) -> str | None:
        """The extended resource a model's pods request, or None for CPU only."""
        gpu = self.models[model].gpu
        if gpu.kind == "none":
            return None
        if gpu.kind == "nvidia.com/gpu" and self.features.enableAdvancedGPUFeaturesMIG:
            return gpu.migProfile
        return gpu.kind

    def gpu_resource_field(self, model: str) -> str:
        """The field of this file that names ``gpu_resource(model)``: where to fix it."""
        gpu = self.models[model].gpu
        mig_instead = gpu.kind == "nvidia.com/gpu" and self.features.enableAdvancedGPUFeaturesMIG
        return f"models.{model}.gpu.{'migProfile' if mig_instead else 'kind'}"

    def runtime_class(self, model: str) -> str | None:
        """The RuntimeClass a model's pods run with: the cluster's GPU one for GPU models only."""
        return self.cluster.gpuRuntimeClassName if self.gpu_resource(model) else None


def environments_dir(root: Path = REPO_ROOT) -> Path:
    """platform/environments/ under ``root``."""
    return root / "platform" / "environments"


def known_environments(root: Path = REPO_ROOT) -> list[str]:
    """The environments: one file each in platform/environments/ (adding one is adding a file)."""
    return sorted(p.stem for p in environments_dir(root).glob("*.yaml"))


def load_environment_file(
    path: Path, root: Path = REPO_ROOT, *, catalog: Catalog | None = None
) -> Environment:
    """Reads and checks one environment file; its name is the file's stem.

    ``catalog`` shares the model, runtime and platform files it is checked against with other
    loads (tools.k8s.schema.catalog); without one, they are read for this call.
    """
    catalog = catalog or Catalog(root)
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise UserError("an environment file must be a mapping", file=path)
    if "namespace" not in data:
        data = {**data, "namespace": catalog.platform.namespace}  # the platform's default
    if "name" in data and data["name"] != path.stem:
        raise UserError(
            f"name {data['name']!r} differs from the file name {path.stem!r}", file=path, field="name"
        )
    try:
        env = Environment.model_validate({**data, "name": path.stem})
    except ValidationError as error:
        raise validation_error(error, path) from None
    _check_models(env, path, catalog)
    _check_rules(env, path)
    _check_registry_tls(env, path, root)
    return env


def _check_registry_tls(env: Environment, path: Path, root: Path) -> None:
    tls = env.registryTLS
    if tls.insecure and env.registry.split("/", 1)[0].rsplit(":", 1)[0] not in ("127.0.0.1", "localhost"):
        raise UserError(
            "insecure is for loopback registries only; name the registry's CA in caFile instead",
            file=path,
            field="registryTLS.insecure",
        )
    if tls.caFile is not None and not (root / tls.caFile).is_file():
        raise UserError(f"{root / tls.caFile} is not a file", file=path, field="registryTLS.caFile")


def _check_rules(env: Environment, path: Path) -> None:
    """Rules across fields, raised with the exact field so the message points at the line to fix."""
    if env.cluster.gpuRuntimeClassName and env.cluster.kind != "kubernetes":
        raise UserError(
            "only a kubernetes cluster has RuntimeClasses (podman runs the host's runtime)",
            file=path,
            field="cluster.gpuRuntimeClassName",
        )
    seen: dict[int, str] = {}
    for model, entry in env.models.items():
        where = f"models.{model}"
        scaling = entry.autoscaling
        if scaling and not scaling.minReplicas <= entry.replicas <= scaling.maxReplicas:
            raise UserError(
                f"replicas ({entry.replicas}) is outside the autoscaling bounds "
                f"[{scaling.minReplicas}, {scaling.maxReplicas}]",
                file=path,
                field=f"{where}.replicas",
            )
        if entry.hostPorts and env.cluster.kind != "podman":
            raise UserError(
                "only a podman cluster publishes host ports", file=path, field=f"{where}.hostPorts"
            )
        for name, port in entry.hostPorts.items():
            if port in seen:
                raise UserError(
                    f"port {port} is also used by {seen[port]}", file=path, field=f"{where}.hostPorts.{name}"
                )
            seen[port] = f"models.{model}.hostPorts.{name}"
        gpu, mig = entry.gpu, env.features.enableAdvancedGPUFeaturesMIG
        if mig and gpu.kind == "nvidia.com/gpu" and not gpu.migProfile:
            raise UserError(
                "a GPU model needs a migProfile when features.enableAdvancedGPUFeaturesMIG is on",
                file=path,
                field=f"{where}.gpu.migProfile",
            )
        if not mig and gpu.kind in MIG_PROFILES:
            raise UserError(
                "a MIG profile needs features.enableAdvancedGPUFeaturesMIG: true",
                file=path,
                field=f"{where}.gpu.kind",
            )


def _check_models(env: Environment, path: Path, catalog: Catalog) -> None:
    """Checks the environment against the model and runtime files it refers to."""
    models = catalog.model_names
    for model, entry in env.models.items():
        if model not in models:
            raise UserError(
                f"unknown model; known models: {', '.join(models)}", file=path, field=f"models.{model}"
            )
        spec = catalog.model(model)
        if spec.images.label(entry.device) is None:
            fix = "remove its gpu" if entry.device == "gpu" else "give it a gpu"
            raise UserError(
                f"model {model} has no {entry.device} image (its model.yaml images: "
                f"{', '.join(spec.images.labels())}); {fix}, or add images.{entry.device} to the model",
                file=path,
                field=f"models.{model}.gpu",
            )
        runtime = catalog.runtime(spec.runtime)
        ports = [p.name for p in runtime.ports]
        for name in entry.hostPorts:
            if name not in ports:
                raise UserError(
                    f"runtime {runtime.name} has no port {name!r} (ports: {', '.join(ports)})",
                    file=path,
                    field=f"models.{model}.hostPorts.{name}",
                )


def load_environment(name: str, root: Path = REPO_ROOT) -> Environment:
    """platform/environments/<name>.yaml, checked; an unknown name lists the known ones."""
    return Catalog(root).environment(name)
