"""The typed data behind every manifest: platform.yaml, runtimes/<r>/runtime.yaml, models/<m>/model.yaml.

Each file is validated by a pydantic model with ``extra="forbid"``, so a typo is an error naming the
file and field instead of a silently ignored key. Environments live in ``environments.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tools.errors import UserError
from tools.k8s.schema.safe_types import (
    ConfigKey,
    ContainerPath,
    DnsLabel,
    EnvName,
    HttpPath,
    LabelValue,
    ModulePath,
    PortName,
    PortNumber,
    Quantity,
    SubjectName,
    Word,
    port_placeholders,
)
from tools.labels import Label
from tools.paths import REPO_ROOT
from tools.yamlio import load_yaml, pydantic_error


class Strict(BaseModel):
    """Unknown keys are errors; loaded specs are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- platform.yaml -----------------------------------------------------------------------------


class RoleRule(Strict):
    # The model servers only ever read; a write verb or a "*" here is refused, not just discouraged.
    """One rule of the read-only Role."""

    apiGroups: list[LabelValue] = Field(min_length=1)
    resources: list[DnsLabel] = Field(min_length=1)
    verbs: list[Literal["get", "list", "watch"]] = Field(min_length=1)


class RoleSpec(Strict):
    """The Role the model servers get."""

    name: DnsLabel
    rules: list[RoleRule] = Field(min_length=1)


class Subject(Strict):
    """Who deploys: a user or group of the cluster's authenticator, or a ServiceAccount."""

    kind: Literal["User", "Group", "ServiceAccount"]
    name: SubjectName
    namespace: DnsLabel | None = None  # ServiceAccount only

    @model_validator(mode="after")
    def _namespace_for_service_accounts(self) -> Subject:
        if (self.kind == "ServiceAccount") != (self.namespace is not None):
            raise ValueError("namespace is required for a ServiceAccount subject and only for one")
        return self


class DeployerSpec(Strict):
    """The deploying identity's RBAC: names and subjects only; the rules come from the kinds."""

    name: DnsLabel
    subjects: list[Subject] = Field(min_length=1)


class PlatformSpec(Strict):
    """platform/platform.yaml."""

    namespace: DnsLabel
    partOf: LabelValue
    managedBy: LabelValue
    version: LabelValue
    serviceAccount: DnsLabel
    role: RoleSpec
    roleBinding: DnsLabel
    deployer: DeployerSpec


# --- runtimes/<r>/runtime.yaml -----------------------------------------------------------------


class PortSpec(Strict):
    """A named container port and its Service port."""

    name: PortName
    containerPort: PortNumber
    servicePort: PortNumber | None = None  # defaults to containerPort


class HttpGetSpec(Strict):
    """An HTTP probe on a named port."""

    path: HttpPath
    port: PortName


class TcpSocketSpec(Strict):
    """A TCP probe on a named port."""

    port: PortName


class ProbeSpec(Strict):
    """A probe: exactly one handler, and its timing."""

    httpGet: HttpGetSpec | None = None
    tcpSocket: TcpSocketSpec | None = None
    initialDelaySeconds: int = Field(default=0, ge=0)
    periodSeconds: int = Field(default=10, ge=1)
    timeoutSeconds: int = Field(default=1, ge=1)
    failureThreshold: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _one_handler(self) -> ProbeSpec:
        if (self.httpGet is None) == (self.tcpSocket is None):
            raise ValueError("a probe needs exactly one of httpGet or tcpSocket")
        return self

    @property
    def port(self) -> str:
        """The port name the probe uses."""
        return (self.httpGet or self.tcpSocket).port


class ProbesSpec(Strict):
    """The startup, readiness and liveness probes."""

    startup: ProbeSpec  # model loading can take minutes: liveness waits for this
    readiness: ProbeSpec
    liveness: ProbeSpec


class MetricsSpec(Strict):
    """Where Prometheus scrapes the runtime."""

    port: PortName
    path: HttpPath


class ConfigSpec(Strict):
    """The runtime's ConfigMap, made by ``<module>.config_files(model_dir, model_name, gpu)``."""

    module: ModulePath
    mountPath: ContainerPath | None = None  # mount the whole ConfigMap as a directory ...
    files: dict[ConfigKey, ContainerPath] = {}  # ... or each file over one path (subPath)

    @model_validator(mode="after")
    def _one_mount(self) -> ConfigSpec:
        if (self.mountPath is None) == (not self.files):
            raise ValueError("config needs exactly one of mountPath or files")
        return self


class PodsMetricSpec(Strict):
    """A per-pod custom metric for the HPA (served by prometheus-adapter on a GPU cluster)."""

    name: str
    averageValue: Quantity

    @field_validator("name")
    @classmethod
    def _metric_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", value):
            raise ValueError(f"{value!r} is not a Prometheus metric name")
        return value


class StagedModelSpec(Strict):
    """For a server image that cannot run the verifier (TF Serving's upstream base has no Python):
    a first init container in the model's own image runs ``copyCommand`` to copy the model directory
    into an emptyDir mounted at ``path``; ``initCommand`` then runs in ``verifierImage`` (one of our
    images with model-signing, built, pushed, checked by the gate and pinned like the model's) over
    that copy; the server mounts the same emptyDir read-only at ``serverPath``, over the image's own
    model directory, so it loads exactly the bytes that verified."""

    verifierImage: str
    copyCommand: list[Word] = Field(min_length=1)
    path: ContainerPath
    serverPath: ContainerPath
    sizeLimit: Quantity  # the emptyDir holds one copy of the model directory

    @field_validator("verifierImage")
    @classmethod
    def _image_label(cls, value: str) -> str:
        return _label(value)


class ModelSignatureSpec(Strict):
    """How the runtime checks the weights' model.sig where the environment demands it
    (``features.verifyModelSignatures``): the server itself, told the public key's path in
    ``publicKeyEnv``, or, for a server we do not modify, an init container in the same image
    running ``initCommand`` (``{publicKey}`` is the mounted key's path), so the server never starts
    on weights that do not verify. Exactly one of the two; ``staged`` moves ``initCommand`` into
    another image, over a verified copy of the model directory."""

    publicKeyEnv: EnvName | None = None
    initCommand: list[Word] = []
    staged: StagedModelSpec | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ModelSignatureSpec:
        if (self.publicKeyEnv is None) == (not self.initCommand):
            raise ValueError("modelSignature needs exactly one of publicKeyEnv or initCommand")
        if self.staged is not None and not self.initCommand:
            raise ValueError("modelSignature.staged runs initCommand: set initCommand, not publicKeyEnv")
        return self


class RuntimeSpec(Strict):
    """runtimes/<r>/runtime.yaml."""

    name: DnsLabel
    ports: list[PortSpec] = Field(min_length=1)
    command: list[Word] = []  # empty: the image's entrypoint
    args: list[Word] = []
    env: dict[EnvName, Word] = {}
    probes: ProbesSpec
    metrics: MetricsSpec
    config: ConfigSpec | None = None
    tmpSizeLimit: Quantity = "256Mi"
    # When the environment gives the model GPUs, the HPA also scales on this metric; without it,
    # on the DCGM exporter's GPU utilisation.
    gpuAutoscalingMetric: PodsMetricSpec | None = None
    modelSignature: ModelSignatureSpec | None = None  # None: the runtime cannot check model.sig

    @model_validator(mode="after")
    def _ports_exist(self) -> RuntimeSpec:
        names = [p.name for p in self.ports]
        if len(set(names)) != len(names):
            raise ValueError(f"port names must be unique: {names}")
        used = {
            "probes.startup": self.probes.startup.port,
            "probes.readiness": self.probes.readiness.port,
            "probes.liveness": self.probes.liveness.port,
            "metrics.port": self.metrics.port,
        }
        for where, port in used.items():
            if port not in names:
                raise ValueError(f"{where} names port {port!r}, but ports are {names}")
        words = {**{f"env.{k}": v for k, v in self.env.items()}, "command": " ".join(self.command)}
        words["args"] = " ".join(self.args)
        for where, text in words.items():
            for port in port_placeholders(text):
                if port not in names:
                    raise ValueError(f"{where} uses {{port:{port}}}, but ports are {names}")
        return self

    def port_numbers(self) -> dict[str, int]:
        """Port name -> container port, for ``{port:<name>}``."""
        return {p.name: p.containerPort for p in self.ports}

    def verifier_images(self) -> list[Label]:
        """Images of ours the pods run besides the model's (``modelSignature.staged``), where the
        environment verifies model signatures: built, pushed and pinned with the model's."""
        staged = self.modelSignature.staged if self.modelSignature else None
        return [] if staged is None else [Label.parse(staged.verifierImage)]


# --- models/<m>/model.yaml ---------------------------------------------------------------------


Device = Literal["cpu", "gpu"]
DEVICES: tuple[Device, ...] = ("cpu", "gpu")


def _label(value: str) -> str:
    try:
        Label.parse(value)
    except UserError as error:
        raise ValueError(error.message) from None
    return value


class ImageVariants(Strict):
    """The model's image per device, each a Bazel label that resolve swaps for
    registry/repo@sha256:... An environment that gives the model a GPU (``models.<m>.gpu``) gets
    ``gpu``, any other ``cpu``; a variant the model lacks is an error in that environment."""

    cpu: str | None = None  # must not carry CUDA libraries: CPU nodes never pull a multi-GB image
    gpu: str | None = None  # must carry what the runtime needs to use the GPU (CUDA torch, TF GPU)

    @field_validator("cpu", "gpu")
    @classmethod
    def _labels(cls, value: str | None) -> str | None:
        return None if value is None else _label(value)

    @model_validator(mode="after")
    def _at_least_one(self) -> ImageVariants:
        if self.cpu is None and self.gpu is None:
            raise ValueError("a model needs at least one image variant: cpu or gpu")
        return self

    def label(self, device: Device) -> Label | None:
        """The variant's image label, or None when the model has no image for ``device``."""
        value = getattr(self, device)
        return None if value is None else Label.parse(value)

    def labels(self) -> dict[str, Label]:
        """Device -> label, for every variant the model has."""
        return {d: label for d in DEVICES if (label := self.label(d)) is not None}


class ModelSpec(Strict):
    """models/<m>/model.yaml."""

    name: DnsLabel
    runtime: DnsLabel
    version: LabelValue
    images: ImageVariants
    env: dict[EnvName, Word] = {}  # extra container environment for this model
    # The model's client (``predict_once(url, input, *, raw) -> str``), which ``servectl predict``
    # loads by this dotted path: tools never import a model.
    client: ModulePath | None = None


# --- loading -----------------------------------------------------------------------------------

SpecT = TypeVar("SpecT", bound=BaseModel)


def validation_error(error: ValidationError, path: Path) -> UserError:
    """``tools.yamlio.pydantic_error``, with a bad key (a newline in it) shown quoted in the field."""
    first = error.errors()[0]
    loc = [part if re.fullmatch(r"[\w./-]+", str(part)) else repr(part) for part in first["loc"]]
    if loc and loc[-1] == "[key]":
        loc.pop()
    if loc == [str(p) for p in first["loc"]]:
        return pydantic_error(error, path)
    return UserError(first["msg"], file=path, field=".".join(str(part) for part in loc) or None)


def load_spec(path: Path, spec: type[SpecT]) -> SpecT:
    """Reads one YAML file into ``spec``; any problem is a UserError naming file and field."""
    data = load_yaml(path)
    try:
        return spec.model_validate(data)
    except ValidationError as error:
        raise validation_error(error, path) from None


def model_dir(name: str, root: Path = REPO_ROOT) -> Path:
    """A model's package: its name with ``-`` as ``_`` (Kubernetes names take no ``_``, Python
    packages no ``-``), so model ``yolo-torchserve`` lives in models/yolo_torchserve/."""
    return root / "models" / name.replace("-", "_")


def known_models(root: Path = REPO_ROOT) -> list[str]:
    """The models: directories under models/ with a model.yaml (``_`` in a directory is ``-`` in
    the model's name)."""
    return sorted(p.parent.name.replace("_", "-") for p in (root / "models").glob("*/model.yaml"))


def load_model(name: str, root: Path = REPO_ROOT) -> ModelSpec:
    """models/<name>/model.yaml, checked; an unknown model lists the known ones."""
    if name not in known_models(root):
        raise UserError(f"unknown model {name!r}; known models: {', '.join(known_models(root))}")
    return read_model(name, root)


def read_model(name: str, root: Path = REPO_ROOT) -> ModelSpec:
    """models/<name>/model.yaml, checked, for a model known to exist."""
    path = model_dir(name, root) / "model.yaml"
    spec = load_spec(path, ModelSpec)
    if spec.name != name:
        raise UserError(f"name {spec.name!r} differs from the directory's {name!r}", file=path, field="name")
    return spec


def load_runtime(name: str, root: Path = REPO_ROOT) -> RuntimeSpec:
    """runtimes/<name>/runtime.yaml, checked."""
    path = root / "runtimes" / name / "runtime.yaml"
    spec = load_spec(path, RuntimeSpec)
    if spec.name != name:
        raise UserError(f"name {spec.name!r} differs from the directory {name!r}", file=path, field="name")
    return spec


def load_platform(root: Path = REPO_ROOT) -> PlatformSpec:
    """platform/platform.yaml, checked."""
    return load_spec(root / "platform" / "platform.yaml", PlatformSpec)
