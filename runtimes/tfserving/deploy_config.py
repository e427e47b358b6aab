"""What the manifests need from the TF Serving runtime: the ConfigMap files and the container command.

CONTRACT (called by tools/k8s for the ConfigMap mounted at ``/config``):
``config_files(model_dir, model_name, gpu) -> {"models.config": ..., "monitoring.config": ...}``.
The model's SavedModel sits at ``/models/<name>/<version>/`` inside its image.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from runtimes.tfserving.config import (
    MODEL_NAME_PATTERN,
    ModelEntry,
    ModelSettings,
    MonitoringSettings,
    ServerConfig,
    render_models_config,
    render_monitoring_config,
)
from tools.errors import UserError
from tools.yamlio import load_yaml, pydantic_error

# The tensorflow/serving image release (tags 2.21.0 and 2.21.0-gpu). Its TF must not be older than
# the TF that exports the SavedModels (tensorflow-cpu 2.21.0): newer graphs can use ops an older
# server lacks (TF 2.21 saves a DisableCopyOnRead op older releases do not have). A tensorflow test
# checks the exported version against this.
SERVER_VERSION = "2.21.0"
MODEL_ROOT = "/models"  # where each image puts its SavedModel versions: /models/<name>/<version>/
CONFIG_DIR = "/config"  # where the ConfigMap is mounted
GRPC_PORT = 8500
REST_PORT = 8501
# Optional per-model settings beside model.yaml (version policy, version labels).
SETTINGS_FILE = "tfserving.yaml"


def server_command() -> list[str]:
    """The container command, replacing the upstream image's entrypoint script.

    The script (tensorflow_serving/tools/docker/Dockerfile) adds ``--model_name``/``--model_base_path``
    for a single model; this runs the binary directly with the two config files instead.
    """
    return [
        "/usr/bin/tensorflow_model_server",
        f"--port={GRPC_PORT}",
        f"--rest_api_port={REST_PORT}",
        f"--model_config_file={CONFIG_DIR}/models.config",
        f"--monitoring_config_file={CONFIG_DIR}/monitoring.config",
    ]


def readiness_path(model_name: str) -> str:
    """The REST model-status path; it answers 200 only once the model's initial load is AVAILABLE."""
    return f"/v1/models/{model_name}"


def config_files(model_dir: Path, model_name: str, gpu: bool) -> dict[str, str]:
    """The ConfigMap's files for one model served from ``/models/<model_name>``.

    ``gpu`` changes nothing here: TF Serving places ops on a GPU by itself when the image is the
    ``-gpu`` variant and a GPU is allocated; the config files are the same either way.
    """
    del gpu
    settings_file = Path(model_dir) / SETTINGS_FILE
    settings = _load_settings(settings_file)
    try:
        entry = ModelEntry(
            name=model_name,
            base_path=f"{MODEL_ROOT}/{model_name}",
            version_policy=settings.version_policy,
            version_labels=settings.version_labels,
        )
    except ValidationError:
        raise UserError(
            f"model name {model_name!r} must match {MODEL_NAME_PATTERN} (it is used in URLs)",
            file=Path(model_dir) / "model.yaml",
            field="name",
        ) from None
    header = f"Rendered by runtimes/tfserving/deploy_config.py for {model_name}; do not edit."
    return {
        "models.config": render_models_config(ServerConfig(models=[entry]), header=header),
        "monitoring.config": render_monitoring_config(MonitoringSettings(), header=header),
    }


def _load_settings(path: Path) -> ModelSettings:
    data = load_yaml(path) if path.exists() else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError("expected a mapping (version_policy, version_labels)", file=path)
    if "name" in data or "base_path" in data:
        raise UserError("set by the platform from model.yaml, not here", file=path, field="name/base_path")
    try:
        return ModelSettings.model_validate(data)
    except ValidationError as error:
        raise pydantic_error(error, path) from None
