"""A model's PodDisruptionBudget (policy/v1) and HorizontalPodAutoscaler (autoscaling/v2).

The HPA scales on CPU, and where the environment gives the model GPUs also on a per-pod GPU
metric: the runtime's own (Triton's average queue time, ``avg_time_queue_us``) or the DCGM
exporter's utilisation. Under MIG, DCGM_FI_DEV_GPU_UTIL is not reported per MIG device, so the
graphics-engine activity ratio DCGM_FI_PROF_GR_ENGINE_ACTIVE (0..1) is used instead. Pods metrics
reach the HPA through prometheus-adapter (or KEDA) on the cluster; nothing here needs them.
"""

from __future__ import annotations

from tools.k8s.render.inputs import RenderInputs
from tools.k8s.schema.environments import MIG_PROFILES

DCGM_GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"  # percent, 0..100
DCGM_MIG_ENGINE_ACTIVE = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"  # ratio, 0..1


def pod_disruption_budget(inputs: RenderInputs) -> dict:
    """At most one pod evicted at a time."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": inputs.metadata(inputs.name),
        # One pod at a time may be evicted by a drain: never blocks node maintenance, never takes
        # a model fully down when it has more than one replica.
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": inputs.selector()}},
    }


def _pods_metric(name: str, average_value: str) -> dict:
    return {
        "type": "Pods",
        "pods": {"metric": {"name": name}, "target": {"type": "AverageValue", "averageValue": average_value}},
    }


def _gpu_metric(inputs: RenderInputs) -> dict:
    own = inputs.runtime.gpuAutoscalingMetric
    if own is not None:
        return _pods_metric(own.name, own.averageValue)
    percent = inputs.placement.autoscaling.targetGPUUtilizationPercentage
    if inputs.gpu_resource in MIG_PROFILES:
        # The same target as a ratio in milli-units: 80 % -> "800m" (0.8).
        return _pods_metric(DCGM_MIG_ENGINE_ACTIVE, f"{percent * 10}m")
    return _pods_metric(DCGM_GPU_UTIL, str(percent))


def horizontal_pod_autoscaler(inputs: RenderInputs) -> dict | None:
    """The HPA on CPU (and the GPU metric where the model gets GPUs), or None without autoscaling."""
    scaling = inputs.placement.autoscaling
    if scaling is None:
        return None
    metrics = [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {
                    "type": "Utilization",
                    "averageUtilization": scaling.targetCPUUtilizationPercentage,
                },
            },
        }
    ]
    if inputs.gpu_resource:
        metrics.append(_gpu_metric(inputs))
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": inputs.metadata(inputs.name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": inputs.name},
            "minReplicas": scaling.minReplicas,
            "maxReplicas": scaling.maxReplicas,
            "metrics": metrics,
        },
    }
