"""One metric vocabulary for every runtime: recording rules from each runtime's names onto common ones.

Each runtime says in ``runtimes/<r>/observability.yaml`` how its own metrics answer the platform's
questions (requests, errors, latency quantiles, slow requests, queue time, batch size) as PromQL
templates. Recorded per model under the names below, one dashboard and one alert set serve every
model, whatever serves it. Series keep the labels the ServiceMonitor (or the local scrape config)
gives every target: ``namespace`` and ``service`` (the model's Service, named after the model).
"""

from __future__ import annotations

import re
from string import Template

from tools.errors import UserError
from tools.k8s.render.inputs import RenderInputs
from tools.k8s.schema.runtime_metrics import RuntimeMetrics, metrics_file

# Rate windows: 5m for dashboards and plain alerts; the pairs (5m, 1h) and (30m, 6h) for the
# multi-window burn-rate alerts of the Google SRE workbook (page at 14.4x, ticket at 6x).
WINDOWS = ("5m", "30m", "1h", "6h")
QUANTILES = (0.5, 0.9, 0.99)

REQUESTS = "model:requests:rate{window}"  # inference requests per second
ERRORS = "model:request_errors:rate{window}"  # failed (server-side) inference requests per second
ERROR_RATIO = "model:request_error_ratio:rate{window}"
SLOW = "model:requests_slow:rate{window}"  # requests slower than the latency objective per second
SLOW_RATIO = "model:requests_slow_ratio:rate{window}"
LATENCY = "model:request_latency_seconds:p{percent}"  # over 5m
QUEUE = "model:queue_seconds:avg_rate5m"  # average time a request waited for the model
BATCH = "model:batch_size:avg_rate5m"  # inferences per model execution
REPLICAS_UP = "model:replicas_up:count"  # pods Prometheus scrapes successfully


def latency_name(quantile: float) -> str:
    return LATENCY.format(percent=f"{quantile * 100:g}".replace(".", "_"))


def load_runtime_metrics(inputs: RenderInputs) -> RuntimeMetrics:
    """The runtime's metrics mapping, loaded once with the other inputs (tools.k8s.schema)."""
    return inputs.metrics


def selector(inputs: RenderInputs) -> str:
    """The model's series: its namespace and its Service (= the model's name)."""
    return f'namespace="{inputs.namespace}", service="{inputs.name}"'


def _fill(template: str, inputs: RenderInputs, **values: str) -> str:
    text = Template(template).substitute(selector=selector(inputs), **values)
    return re.sub(r"\s+", " ", text).strip()


def _bucket_bound(objective: float, metrics: RuntimeMetrics, inputs: RenderInputs) -> str:
    if objective not in metrics.latencyBuckets:
        raise UserError(
            f"the latency objective {objective} s is not a bucket bound {metrics.latencyBuckets}",
            file=metrics_file(inputs.runtime.name, inputs.root),
            field="latencyBuckets",
        )
    # Prometheus client libraries write bucket bounds as Go/Python floats: 0.5, 1.0, 10.0
    return repr(float(objective))


def recording_rules(inputs: RenderInputs, latency_objective: float) -> list[dict]:
    """The model's recording rules: its runtime's metrics under the common names."""
    metrics = load_runtime_metrics(inputs)
    rules: list[dict] = []
    for window in WINDOWS:
        requests, errors = REQUESTS.format(window=window), ERRORS.format(window=window)
        rules.append({"record": requests, "expr": _fill(metrics.requests, inputs, window=window)})
        # A runtime that labels errors by status has no error series until the first error: then
        # the rate is 0, not absent, so dashboards and `status` show 0 % rather than nothing.
        errors_expr = _fill(metrics.errors, inputs, window=window)
        rules.append({"record": errors, "expr": f"({errors_expr}) or (0 * {requests})"})
        # 0/0 (no traffic) gives no sample rather than NaN, so no alert fires on an idle model.
        rules.append({"record": ERROR_RATIO.format(window=window), "expr": f"{errors} / ({requests} > 0)"})
        if metrics.slowRequests is not None:
            slow = SLOW.format(window=window)
            bound = _bucket_bound(latency_objective, metrics, inputs)
            rules.append(
                {"record": slow, "expr": _fill(metrics.slowRequests, inputs, window=window, objective=bound)}
            )
            rules.append({"record": SLOW_RATIO.format(window=window), "expr": f"{slow} / ({requests} > 0)"})
    if metrics.latencyQuantile is not None:
        for quantile in QUANTILES:
            expr = _fill(metrics.latencyQuantile, inputs, window="5m", quantile=f"{quantile:g}")
            rules.append({"record": latency_name(quantile), "expr": expr})
    if metrics.queueSeconds is not None:
        rules.append({"record": QUEUE, "expr": _fill(metrics.queueSeconds, inputs, window="5m")})
    if metrics.batchSize is not None:
        rules.append({"record": BATCH, "expr": _fill(metrics.batchSize, inputs, window="5m")})
    rules.append(
        {"record": REPLICAS_UP, "expr": f"count by (namespace, service) (up{{{selector(inputs)}}} == 1)"}
    )
    return rules
