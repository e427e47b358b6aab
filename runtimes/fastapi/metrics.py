"""Prometheus collectors, module-level so every part of the server records into the same ones.

Routes are labelled by their template (``/v2/models/{name}/infer``), never the raw path, so a
client cannot blow up the number of series.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets from 5 ms to 10 s: CPU detection sits around 50-200 ms, queueing adds whole seconds.
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "model_server_requests",
    "HTTP requests answered, by route, method and status",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "model_server_request_duration_seconds",
    "Time from request to the end of the response, by route, method and status",
    ["route", "method", "status"],
    buckets=_SECONDS,
)
IN_FLIGHT = Gauge("model_server_requests_in_flight", "HTTP requests being handled right now")
MODEL_LOAD_SECONDS = Gauge(
    "model_server_model_load_seconds", "How long the model's load() took", ["model", "version"]
)
MODEL_READY = Gauge(
    "model_server_model_ready", "1 once the model is loaded and serving", ["model", "version"]
)
INFERENCE_SECONDS = Histogram(
    "model_server_inference_duration_seconds",
    "Time in each stage of the model's pipeline (preprocess, predict, postprocess; infer for V2)",
    ["model", "stage"],
    buckets=_SECONDS,
)
INFERENCE_QUEUE_SECONDS = Histogram(
    "model_server_inference_queue_seconds",
    "Time a request waited for a free inference thread",
    ["model"],
    buckets=_SECONDS,
)
REQUESTS_SHED = Counter(
    "model_server_requests_shed",
    "Inference requests refused at once because the server admits no more (503 / UNAVAILABLE)",
    ["model"],
)
INFERENCE_ADMITTED = Gauge(
    "model_server_inference_admitted",
    "Inference requests admitted and not yet answered: running plus waiting for a thread",
    ["model"],
)
