"""TF Serving's two config files: typed settings in, real-proto text out, and a checker for either.

``render_models_config`` builds a ``ModelServerConfig`` message from pydantic settings and prints it
in text format; ``check_models_config`` parses any models.config text with the real proto and then
applies the checks TF Serving itself makes when it loads one (``ValidateModelConfigList`` and
``GetPlatform`` in tensorflow_serving/model_servers/server_core.cc, tag 2.20.0), plus the ones
that would otherwise only show up on the cluster as a server that never becomes ready (an empty
``specific`` policy, a version label the server refuses at start-up or that points at a version it
never serves). Rendered text is always put through the checker, so a bad config fails here, before
anything is deployed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from google.protobuf import text_format
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator

from runtimes.tfserving.protos import model_server_config_class, monitoring_config_class
from tools.errors import UserError

PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
# Model names end up in URLs (/v1/models/<name>) and Kubernetes object names.
MODEL_NAME_PATTERN = r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$"
# server_core.cc's UriIsRelativePath: a scheme (gs://, s3://) or an absolute path is accepted.
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Latest(_Strict):
    num_versions: PositiveInt = 1


class All(_Strict):
    pass


class Specific(_Strict):
    versions: list[NonNegativeInt] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Specific:
        if len(set(self.versions)) != len(self.versions):
            raise ValueError(f"versions must be unique, got {self.versions}")
        return self


class VersionPolicy(_Strict):
    """The proto's ``ServableVersionPolicy`` oneof: set exactly one of the three."""

    latest: Latest | None = None
    all: All | None = None
    specific: Specific | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> VersionPolicy:
        chosen = [name for name in ("latest", "all", "specific") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(f"set exactly one of latest, all, specific (got {chosen or 'none'})")
        return self


class ModelSettings(_Strict):
    """What a model may choose for itself (its ``tfserving.yaml``); the platform sets the rest."""

    version_policy: VersionPolicy = VersionPolicy(latest=Latest())
    version_labels: dict[str, NonNegativeInt] = Field(default_factory=dict)


class ModelEntry(ModelSettings):
    """One ``model_config_list.config`` entry."""

    name: str = Field(pattern=MODEL_NAME_PATTERN, max_length=63)
    base_path: str = Field(min_length=1)
    model_platform: Literal["tensorflow"] = "tensorflow"


class ServerConfig(_Strict):
    models: list[ModelEntry] = Field(min_length=1)


class MonitoringSettings(_Strict):
    prometheus_path: str = Field(PROMETHEUS_PATH, pattern=r"^/[^\s]*$")


def render_models_config(config: ServerConfig, *, header: str = "", labels_before_load: bool = False) -> str:
    """models.config text for ``config``; raises UserError if TF Serving would reject it.

    ``labels_before_load``: the server runs with ``--allow_version_labels_for_unavailable_models``
    (see ``check_models_config``).
    """
    message = model_server_config_class()()
    for model in config.models:
        entry = message.model_config_list.config.add()
        entry.name = model.name
        entry.base_path = model.base_path
        entry.model_platform = model.model_platform
        policy = entry.model_version_policy
        if model.version_policy.latest is not None:
            policy.latest.num_versions = model.version_policy.latest.num_versions
        elif model.version_policy.all is not None:
            policy.all.SetInParent()
        else:
            policy.specific.versions.extend(model.version_policy.specific.versions)
        for label, version in sorted(model.version_labels.items()):
            entry.version_labels[label] = version
    text = _comment(header) + text_format.MessageToString(message)
    check_models_config(text, file="<rendered models.config>", labels_before_load=labels_before_load)
    return text


def render_monitoring_config(settings: MonitoringSettings, *, header: str = "") -> str:
    message = monitoring_config_class()()
    message.prometheus_config.enable = True
    message.prometheus_config.path = settings.prometheus_path
    text = _comment(header) + text_format.MessageToString(message)
    check_monitoring_config(text, file="<rendered monitoring.config>")
    return text


def check_models_config(text: str, *, file: str | Path, labels_before_load: bool = False):
    """Parses models.config text with the real ModelServerConfig proto and checks it as TF Serving would.

    Returns the parsed message; raises UserError naming the file and the field.

    Version labels: ``ServerCore::ReloadConfig`` assigns them *before* it loads the models, and
    refuses a label whose version is not AVAILABLE, so a config with labels stops the server at
    start-up unless it runs with ``--allow_version_labels_for_unavailable_models``
    (``labels_before_load=True``).
    """
    message = _parse(text, model_server_config_class()(), file)
    if message.WhichOneof("config") != "model_config_list":
        raise UserError("expected a model_config_list (custom_model_config is not supported)", file=file)
    configs = message.model_config_list.config
    if not configs:
        raise UserError("model_config_list has no config entries", file=file, field="model_config_list")
    seen: set[str] = set()
    for index, config in enumerate(configs):
        where = f"model_config_list.config[{index}]"
        if not config.name:
            raise UserError("missing name", file=file, field=f"{where}.name")
        if config.name in seen:
            raise UserError(
                f"model {config.name!r} is listed more than once (TF Serving refuses the whole file)",
                file=file,
                field=f"{where}.name",
            )
        seen.add(config.name)
        _check_base_path(config, file, where)
        _check_platform(config, file, where)
        _check_versions(config, file, where, labels_before_load)
    return message


def check_monitoring_config(text: str, *, file: str | Path):
    """Parses monitoring.config text with the MonitoringConfig proto; the Prometheus path must be a path."""
    message = _parse(text, monitoring_config_class()(), file)
    prometheus = message.prometheus_config
    if prometheus.enable and prometheus.path and not re.fullmatch(r"/[^\s]*", prometheus.path):
        raise UserError(
            f"must start with '/' and have no spaces, got {prometheus.path!r}",
            file=file,
            field="prometheus_config.path",
        )
    return message


def _parse(text: str, message, file: str | Path):
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as error:
        where = f"line {error.GetLine()}, column {error.GetColumn()}" if error.GetLine() else None
        problem = str(error).split(" : ", 1)[-1]
        raise UserError(
            f"not a valid {message.DESCRIPTOR.name} text proto: {problem}", file=file, field=where
        ) from None
    return message


def _check_base_path(config, file, where: str) -> None:
    if not config.base_path:
        raise UserError(f"model {config.name!r} has no base_path", file=file, field=f"{where}.base_path")
    if not (config.base_path.startswith("/") or _URI_SCHEME.match(config.base_path)):
        raise UserError(
            f"must be an absolute path or a URI, got {config.base_path!r}",
            file=file,
            field=f"{where}.base_path",
        )


def _check_platform(config, file, where: str) -> None:
    # model_type is deprecated; server_core.cc accepts it alone, rejects it beside model_platform.
    if config.model_type and config.model_platform:
        raise UserError("set model_platform only (model_type is deprecated)", file=file, field=f"{where}")
    model_types = config.DESCRIPTOR.fields_by_name["model_type"].enum_type.values_by_number
    if config.model_type and model_types[config.model_type].name != "TENSORFLOW":
        raise UserError(
            'the deprecated model_type supports only TENSORFLOW; use model_platform: "tensorflow"',
            file=file,
            field=f"{where}.model_type",
        )
    if not config.model_type and config.model_platform != "tensorflow":
        raise UserError(
            f'must be "tensorflow" (the only platform the stock server has), got {config.model_platform!r}',
            file=file,
            field=f"{where}.model_platform",
        )


def _check_versions(config, file, where: str, labels_before_load: bool) -> None:
    policy = config.model_version_policy
    served: set[int] | None = None  # None: whatever is on disk
    if policy.WhichOneof("policy_choice") == "specific":
        served = set(policy.specific.versions)
        if not served:
            raise UserError(
                "specific policy lists no versions: nothing would ever be served",
                file=file,
                field=f"{where}.model_version_policy.specific.versions",
            )
        if any(version < 0 for version in served):
            raise UserError(
                "versions are non-negative integers (the names of the version directories)",
                file=file,
                field=f"{where}.model_version_policy.specific.versions",
            )
    for label, version in config.version_labels.items():
        if not labels_before_load:
            raise UserError(
                f"label {label!r}: TF Serving assigns labels before it loads the versions, so at start-up "
                "this fails the whole server; drop the label or run with "
                "--allow_version_labels_for_unavailable_models",
                file=file,
                field=f"{where}.version_labels.{label}",
            )
        if served is not None and version not in served:
            raise UserError(
                f"label {label!r} points at version {version}, which the specific policy does not serve",
                file=file,
                field=f"{where}.version_labels.{label}",
            )


def _comment(header: str) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
