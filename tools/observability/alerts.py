"""One alert set for every model, written over the common vocabulary (vocabulary.py).

Objectives are the platform's defaults (``Objectives``); each alert names the model's namespace and
service, so one model's PrometheusRule never alerts on another. Burn-rate alerts follow the Google
SRE workbook's multi-window, multi-burn-rate form: page when 2 % of a 30-day error budget goes in
one hour (14.4x over 1h, confirmed over 5m), ticket when 5 % goes in six hours (6x over 6h and 30m).
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.k8s.render.inputs import RenderInputs
from tools.k8s.render.scaling import DCGM_GPU_UTIL, DCGM_MIG_ENGINE_ACTIVE
from tools.k8s.schema.environments import MIG_PROFILES
from tools.observability import vocabulary as v

# DCGM exporter's frame-buffer memory, MiB (used and free; total = used + free).
DCGM_FB_USED = "DCGM_FI_DEV_FB_USED"
DCGM_FB_FREE = "DCGM_FI_DEV_FB_FREE"
# kube-state-metrics: how many replicas the Deployment wants, and how many are ready.
KSM_SPEC_REPLICAS = "kube_deployment_spec_replicas"
KSM_READY_REPLICAS = "kube_deployment_status_replicas_ready"


@dataclass(frozen=True)
class Objectives:
    availability: float = 0.995  # of inference requests answered without a server error
    latency_seconds: float = 0.5  # ... and 99 % of them within this
    latency_target: float = 0.99
    queue_seconds: float = 0.5  # average queue wait that means the model is overloaded
    gpu_memory_ratio: float = 0.9
    gpu_busy_ratio: float = 0.95  # sustained: the GPU, not the pod count, is the limit
    not_ready_minutes: int = 10


OBJECTIVES = Objectives()
FAST_BURN, SLOW_BURN = 14.4, 6.0


def _labels(inputs: RenderInputs, severity: str) -> dict:
    return {"severity": severity, "model": inputs.name}


def _alert(name: str, expr: str, duration: str, severity: str, summary: str, inputs: RenderInputs) -> dict:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": _labels(inputs, severity),
        "annotations": {
            "summary": summary,
            "description": f"{inputs.name} in {inputs.namespace}: {summary}; see its dashboard.",
        },
    }


def _burn(ratio: str, budget: float, factor: float, long: str, short: str, sel: str) -> str:
    threshold = f"{factor * budget:.6g}"
    return (
        f"{ratio.format(window=long)}{{{sel}}} > {threshold} "
        f"and {ratio.format(window=short)}{{{sel}}} > {threshold}"
    )


def alert_rules(inputs: RenderInputs, objectives: Objectives = OBJECTIVES) -> list[dict]:
    sel = v.selector(inputs)
    metrics = v.load_runtime_metrics(inputs)
    error_budget = round(1 - objectives.availability, 6)
    latency_budget = round(1 - objectives.latency_target, 6)
    rules = [
        _alert(
            "ModelUnavailable",
            f"sum by (namespace, service) (up{{{sel}}}) == 0 or absent(up{{{sel}}})",
            "5m",
            "critical",
            "no replica of the model can be scraped",
            inputs,
        ),
        _alert(
            "ModelErrorBudgetBurnFast",
            _burn(v.ERROR_RATIO, error_budget, FAST_BURN, "1h", "5m", sel),
            "2m",
            "critical",
            f"server errors burn the {objectives.availability:.1%} availability budget {FAST_BURN}x too fast",
            inputs,
        ),
        _alert(
            "ModelErrorBudgetBurnSlow",
            _burn(v.ERROR_RATIO, error_budget, SLOW_BURN, "6h", "30m", sel),
            "15m",
            "warning",
            f"server errors burn the {objectives.availability:.1%} availability budget {SLOW_BURN}x too fast",
            inputs,
        ),
    ]
    if metrics.slowRequests is not None:
        rules.append(
            _alert(
                "ModelLatencyBudgetBurn",
                _burn(v.SLOW_RATIO, latency_budget, FAST_BURN, "1h", "5m", sel),
                "2m",
                "critical",
                f"requests slower than {objectives.latency_seconds} s burn the latency budget "
                f"{FAST_BURN}x too fast",
                inputs,
            )
        )
    elif metrics.latencyQuantile is not None:
        # No per-request distribution (Triton's summaries): the quantile against the objective.
        quantile = v.latency_name(objectives.latency_target)
        rules.append(
            _alert(
                "ModelLatencyBudgetBurn",
                f"{quantile}{{{sel}}} > {objectives.latency_seconds}",
                "10m",
                "critical",
                f"p{objectives.latency_target * 100:g} latency is over {objectives.latency_seconds} s",
                inputs,
            )
        )
    if metrics.queueSeconds is not None:
        rules.append(
            _alert(
                "ModelQueueTimeHigh",
                f"{v.QUEUE}{{{sel}}} > {objectives.queue_seconds}",
                "10m",
                "warning",
                f"requests wait over {objectives.queue_seconds} s on average before the model runs them",
                inputs,
            )
        )
    rules += _gpu_alerts(inputs, objectives)
    rules.append(
        _alert(
            "ModelNotReady",
            f'{KSM_READY_REPLICAS}{{namespace="{inputs.namespace}", deployment="{inputs.name}"}} '
            f'< {KSM_SPEC_REPLICAS}{{namespace="{inputs.namespace}", deployment="{inputs.name}"}}',
            f"{objectives.not_ready_minutes}m",
            "warning",
            f"fewer replicas ready than wanted for {objectives.not_ready_minutes} minutes",
            inputs,
        )
    )
    return rules


def gpu_selector(inputs: RenderInputs) -> str:
    """DCGM exporter's series of this model's pods (its Kubernetes pod mapping labels them)."""
    return f'namespace="{inputs.namespace}", pod=~"{inputs.name}-.*"'


def gpu_busy_expr(inputs: RenderInputs) -> tuple[str, float]:
    """The GPU-activity series and its saturation threshold: a ratio under MIG, percent otherwise."""
    sel = gpu_selector(inputs)
    if inputs.gpu_resource in MIG_PROFILES:
        return f"avg by (namespace, pod) ({DCGM_MIG_ENGINE_ACTIVE}{{{sel}}})", 1.0
    return f"avg by (namespace, pod) ({DCGM_GPU_UTIL}{{{sel}}})", 100.0


def _gpu_alerts(inputs: RenderInputs, objectives: Objectives) -> list[dict]:
    if not inputs.gpu_resource:
        return []
    sel = gpu_selector(inputs)
    busy, scale = gpu_busy_expr(inputs)
    used = f"sum by (namespace, pod) ({DCGM_FB_USED}{{{sel}}})"
    memory = f"{used} / ({used} + sum by (namespace, pod) ({DCGM_FB_FREE}{{{sel}}}))"
    return [
        _alert(
            "ModelGPUMemoryHigh",
            f"{memory} > {objectives.gpu_memory_ratio}",
            "15m",
            "warning",
            f"GPU memory over {objectives.gpu_memory_ratio:.0%} used",
            inputs,
        ),
        _alert(
            "ModelGPUSaturated",
            f"{busy} > {objectives.gpu_busy_ratio * scale:g}",
            "30m",
            "warning",
            f"GPU busy over {objectives.gpu_busy_ratio:.0%} of the time: more replicas will not help",
            inputs,
        ),
    ]
