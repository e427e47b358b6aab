"""TF Serving's REST API (port 8501) as used here: the URLs, and reading its answers.

- ``GET /v1/models/<name>`` answers ``{"model_version_status": [{"version": "1", "state":
  "AVAILABLE", "status": {"error_code": "OK", ...}}]}`` (GetModelStatusResponse as JSON; int64
  versions are strings).
- ``GET /v1/models/<name>/metadata`` answers ``{"model_spec": ..., "metadata": {"signature_def":
  <SignatureDefMap as JSON, proto field names>}}``.
- ``POST /v1/models/<name>:predict`` takes ``{"signature_name": ..., "instances": [...]}`` and
  answers ``{"predictions": [...]}``.
- A failure answers ``{"error": "..."}`` with a 4xx/5xx status.
"""

from __future__ import annotations

from tools.errors import UserError


def status_url(base_url: str, model: str) -> str:
    return f"{base_url.rstrip('/')}/v1/models/{model}"


def predict_url(base_url: str, model: str) -> str:
    return f"{status_url(base_url, model)}:predict"


def metadata_url(base_url: str, model: str) -> str:
    """``GET`` answers the model's SignatureDefMap as JSON (proto field names, int64 as strings)."""
    return f"{status_url(base_url, model)}/metadata"


def available_versions(status: object, *, source: str = "model status") -> list[int]:
    """The versions a model-status answer reports as AVAILABLE (empty while loading)."""
    if not isinstance(status, dict) or not isinstance(status.get("model_version_status"), list):
        raise UserError(f"not a TF Serving model status answer: {str(status)[:200]}", file=source)
    versions = []
    for entry in status["model_version_status"]:
        if isinstance(entry, dict) and entry.get("state") == "AVAILABLE":
            version = str(entry.get("version", ""))
            if not version.isdigit():
                raise UserError(f"model status has a non-numeric version {version!r}", file=source)
            versions.append(int(version))
    return sorted(versions)


def error_message(body: object) -> str | None:
    """The ``error`` string TF Serving puts in a failed answer, if that is what ``body`` is."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return None
