"""prometheus-adapter rules that serve the custom metrics the model's HPA names.

Why prometheus-adapter and not KEDA: the HPA (tools/k8s/render/scaling.py) is already an autoscaling/v2
object with a CPU Resource metric as the fallback and a ``Pods`` metric beside it. prometheus-adapter
serves that Pods metric through the custom.metrics.k8s.io API the HPA already reads, so the HPA stays
the one owner of the Deployment's replicas. A KEDA ScaledObject would create an HPA of its own
(two controllers scaling one Deployment, unless ours is dropped) and serves External metrics, which
change the HPA's targets from per-pod averages to totals.

The rules go in a ConfigMap (``<model>-prometheus-adapter``, key ``rules.yaml``, labelled
``prometheus-adapter/rules: "true"``) in the model's namespace; the adapter's own config is the union
of these ``rules`` lists (identical rules from two models are one rule). Each rule is the adapter's
documented form: seriesQuery, resources (namespace and pod labels to Kubernetes resources),
name (``as`` = the HPA's metric name) and metricsQuery.
"""

from __future__ import annotations

import yaml

from tools.errors import UserError
from tools.k8s.render.inputs import RenderInputs
from tools.k8s.render.scaling import DCGM_GPU_UTIL, DCGM_MIG_ENGINE_ACTIVE, horizontal_pod_autoscaler

RULES_LABEL = {"prometheus-adapter/rules": "true"}
RESOURCES = {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}}

# Triton's deploy/k8s-onprem example: average queue time per request over 30 s, in microseconds.
TRITON_QUEUE = (
    "avg(delta(nv_inference_queue_duration_us{<<.LabelMatchers>>}[30s])"
    "/(1+delta(nv_inference_request_success{<<.LabelMatchers>>}[30s]))) by (<<.GroupBy>>)"
)
# A pod's GPU activity as DCGM reports it (one series per GPU or MIG device the pod holds).
DCGM_AVERAGE = "avg(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"

# The metric the HPA asks for -> (the series it is computed from, the adapter's metricsQuery).
KNOWN_METRICS = {
    "avg_time_queue_us": ("nv_inference_queue_duration_us", TRITON_QUEUE),
    DCGM_GPU_UTIL: (DCGM_GPU_UTIL, DCGM_AVERAGE),
    DCGM_MIG_ENGINE_ACTIVE: (DCGM_MIG_ENGINE_ACTIVE, DCGM_AVERAGE),
}


def pods_metrics(hpa: dict | None) -> list[str]:
    if hpa is None:
        return []
    return [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]


def adapter_rule(metric: str, inputs: RenderInputs) -> dict:
    if metric not in KNOWN_METRICS:
        raise UserError(
            f"no prometheus-adapter rule serves the HPA metric {metric!r}; known: {', '.join(KNOWN_METRICS)}",
            file=inputs.root / "runtimes" / inputs.runtime.name / "runtime.yaml",
            field="gpuAutoscalingMetric.name",
        )
    series, query = KNOWN_METRICS[metric]
    return {
        "seriesQuery": f'{series}{{namespace!="",pod!=""}}',
        "resources": RESOURCES,
        "name": {"matches": f"^{series}$", "as": metric},
        "metricsQuery": query,
    }


def adapter_rules(inputs: RenderInputs) -> list[dict]:
    return [adapter_rule(metric, inputs) for metric in pods_metrics(horizontal_pod_autoscaler(inputs))]


def adapter_config_map(inputs: RenderInputs) -> dict | None:
    """The rules for this model's HPA, or None when its HPA asks only for CPU."""
    rules = adapter_rules(inputs)
    if not rules:
        return None
    metadata = inputs.metadata(f"{inputs.name}-prometheus-adapter")
    metadata["labels"] = {**metadata["labels"], **RULES_LABEL}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {"rules.yaml": yaml.safe_dump({"rules": rules}, sort_keys=False)},
    }
