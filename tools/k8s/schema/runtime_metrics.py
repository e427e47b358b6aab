"""``runtimes/<r>/observability.yaml``: how a runtime's own metrics answer the platform's vocabulary.

A data file of the runtime like runtime.yaml, so it is loaded (once, through the Catalog) with the
other inputs of a model; tools/observability turns it into recording rules, alerts and dashboards.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from tools.errors import UserError
from tools.k8s.schema.specs import Strict, load_spec


class RuntimeMetrics(Strict):
    """PromQL templates over $selector, $window, $quantile."""

    requests: str
    errors: str
    latencyQuantile: str | None = None
    slowRequests: str | None = None
    latencyBuckets: list[float] = Field(default_factory=list)  # the bounds $objective may take
    queueSeconds: str | None = None
    batchSize: str | None = None

    @field_validator("requests", "errors", "latencyQuantile", "slowRequests", "queueSeconds", "batchSize")
    @classmethod
    def _has_selector(cls, value: str | None) -> str | None:
        if value is not None and "$selector" not in value:
            raise ValueError("the template must select the model's series with $selector")
        return value


def metrics_file(runtime: str, root: Path) -> Path:
    """Where ``runtime`` maps its metrics."""
    return root / "runtimes" / runtime / "observability.yaml"


def load_runtime_metrics(runtime: str, root: Path) -> RuntimeMetrics:
    """The checked mapping of ``runtime`` (a missing file is a one-line error naming it)."""
    path = metrics_file(runtime, root)
    if not path.exists():
        raise UserError(
            "the runtime says nothing about its metrics; write this file (see runtimes/fastapi's)",
            file=path,
        )
    return load_spec(path, RuntimeMetrics)
