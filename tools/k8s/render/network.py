"""NetworkPolicies: the namespace denies all traffic by default; each model lets in only what the
environment names (tools/k8s/schema/environments.py ``network``).

- ``default_deny``: one per namespace, shared by the models (platform labels), every pod, ingress
  and egress. The model servers call nothing (weights are in the image, no hub at run time), so
  no egress is allowed back.
- ``model_network_policy``: the model's pods take connections on their serving ports from the
  ``servingFrom`` namespaces, and on the metrics port from ``monitoringNamespace``.

A port that only serves metrics (Triton's 8002, TorchServe's 8082) is not a serving port. Where
the metrics come from the serving port itself (the fastapi runtime, TF Serving), the probes use
that port too, which is how it is told apart. Kubelet probes come from the node, which
NetworkPolicy implementations let through.
"""

from __future__ import annotations

from tools.k8s.label_keys import NAMESPACE_NAME
from tools.k8s.render.inputs import RenderInputs

DEFAULT_DENY = "default-deny"


def default_deny(inputs: RenderInputs) -> dict:
    """Every pod of the namespace: no ingress, no egress, unless another policy allows it."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": DEFAULT_DENY, "namespace": inputs.namespace, "labels": inputs.platform_labels()},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def serving_ports(inputs: RenderInputs) -> list[str]:
    """The runtime's port names clients call: all but a port that serves metrics only."""
    runtime = inputs.runtime
    probed = {
        probe.port for probe in (runtime.probes.startup, runtime.probes.readiness, runtime.probes.liveness)
    }
    metrics_only = runtime.metrics.port not in probed
    return [p.name for p in runtime.ports if not (metrics_only and p.name == runtime.metrics.port)]


def _from_namespaces(names: list[str]) -> list[dict]:
    return [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: name}}} for name in names]


def _ports(names: list[str]) -> list[dict]:
    return [{"protocol": "TCP", "port": name} for name in names]


def model_network_policy(inputs: RenderInputs) -> dict:
    """The model's allows: serving ports from ``servingFrom``, metrics from the monitoring namespace."""
    network = inputs.env.network
    ingress = []
    if network.servingFrom:
        ingress.append(
            {"from": _from_namespaces(network.servingFrom), "ports": _ports(serving_ports(inputs))}
        )
    if network.monitoringNamespace:
        ingress.append(
            {
                "from": _from_namespaces([network.monitoringNamespace]),
                "ports": _ports([inputs.runtime.metrics.port]),
            }
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": inputs.metadata(inputs.name),
        # Ingress only: egress stays as the namespace's default-deny has it (none).
        "spec": {
            "podSelector": {"matchLabels": inputs.selector()},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }
