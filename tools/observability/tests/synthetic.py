"""Synthetic series for ``promtool test rules``: each runtime's own metric names, as scraped.

Series are the raw runtime metrics (not the common names), so a unit test of an alert also tests
the recording rules that map the runtime's names onto the vocabulary. Values use promtool's
expanding notation: ``0+100x90`` is 0, 100, 200, ... for 90 one-minute steps.
"""

from __future__ import annotations

NAMESPACE = "creativeflow-ai-serving"


def base(model: str) -> str:
    return f'namespace="{NAMESPACE}", service="{model}", pod="{model}-7d9f-x2k", job="{model}"'


def series(name: str, labels: str, values: str) -> dict:
    return {"series": f"{name}{{{labels}}}", "values": values}


def traffic(runtime: str, model: str, per_min: int, errors_per_min: float, steps: int) -> list[dict]:
    """Inference requests at ``per_min``, ``errors_per_min`` of them server errors."""
    b, ok = base(model), per_min - errors_per_min
    if runtime == "fastapi":
        route = f'{b}, route="/predict", method="POST"'
        return [
            series("model_server_requests_total", f'{route}, status="200"', f"0+{ok:g}x{steps}"),
            series("model_server_requests_total", f'{route}, status="500"', f"0+{errors_per_min:g}x{steps}"),
            # A route that is not inference: never counted, even with errors.
            series(
                "model_server_requests_total",
                f'{b}, route="/ready", method="GET", status="503"',
                f"0+50x{steps}",
            ),
        ]
    if runtime == "triton":
        labels = f'{b}, model="{model}", version="1"'
        return [
            series("nv_inference_request_success", labels, f"0+{ok:g}x{steps}"),
            series("nv_inference_request_failure", labels, f"0+{errors_per_min:g}x{steps}"),
        ]
    labels = f'{b}, model_name="{model}"'
    return [
        series(":tensorflow:serving:request_count", f'{labels}, status="OK"', f"0+{ok:g}x{steps}"),
        series(
            ":tensorflow:serving:request_count",
            f'{labels}, status="INTERNAL"',
            f"0+{errors_per_min:g}x{steps}",
        ),
    ]


def latency(runtime: str, model: str, slow: bool, steps: int) -> list[dict]:
    """100 requests a minute, half of them (``slow``) or none over 0.5 s."""
    b = base(model)
    if runtime == "fastapi":
        labels = f'{b}, route="/predict", method="POST", status="200"'
        fast = 50 if slow else 100
        return [
            *traffic(runtime, model, 100, 0, steps),
            series("model_server_request_duration_seconds_count", labels, f"0+100x{steps}"),
            series(
                "model_server_request_duration_seconds_bucket", f'{labels}, le="0.5"', f"0+{fast}x{steps}"
            ),
            series("model_server_request_duration_seconds_bucket", f'{labels}, le="+Inf"', f"0+100x{steps}"),
        ]
    if runtime == "triton":
        labels = f'{b}, model="{model}", version="1", quantile="0.99"'
        value = 800000 if slow else 120000  # microseconds
        return [series("nv_inference_request_summary_us", labels, f"{value}x{steps}")]
    labels = f'{b}, model_name="{model}", API="predict", entrypoint="REST"'
    under = 0 if slow else 100  # requests in the bucket up to 100 ms
    return [
        series(":tensorflow:serving:request_latency_bucket", f'{labels}, le="100000"', f"0+{under}x{steps}"),
        series(":tensorflow:serving:request_latency_bucket", f'{labels}, le="1e+06"', f"0+100x{steps}"),
        series(":tensorflow:serving:request_latency_bucket", f'{labels}, le="+Inf"', f"0+100x{steps}"),
    ]


def queue(runtime: str, model: str, seconds: float, steps: int) -> list[dict]:
    """60 requests a minute, each waiting ``seconds`` on average."""
    b = base(model)
    if runtime == "fastapi":
        labels = f'{b}, model="{model}"'
        return [
            series("model_server_inference_queue_seconds_sum", labels, f"0+{60 * seconds:g}x{steps}"),
            series("model_server_inference_queue_seconds_count", labels, f"0+60x{steps}"),
        ]
    labels = f'{b}, model="{model}", version="1"'
    return [
        series("nv_inference_queue_duration_us", labels, f"0+{60 * seconds * 1e6:g}x{steps}"),
        series("nv_inference_request_success", labels, f"0+60x{steps}"),
    ]


def gpu(model: str, metric: str, value: float, steps: int) -> list[dict]:
    labels = (
        f'namespace="{NAMESPACE}", pod="{model}-7d9f-x2k", container="server", gpu="0", job="dcgm-exporter"'
    )
    return [series(metric, labels, f"{value:g}x{steps}")]


def kube_state(model: str, ready: int, wanted: int, steps: int) -> list[dict]:
    labels = f'namespace="{NAMESPACE}", deployment="{model}", job="kube-state-metrics"'
    return [
        series("kube_deployment_status_replicas_ready", labels, f"{ready}x{steps}"),
        series("kube_deployment_spec_replicas", labels, f"{wanted}x{steps}"),
    ]
