"""A model's Service and, when the environment turns on model metrics, its ServiceMonitor."""

from __future__ import annotations

from tools.k8s.render.inputs import RenderInputs

SCRAPE_INTERVAL = "30s"


def service(inputs: RenderInputs) -> dict:
    """The ClusterIP Service over every port of the runtime, by name."""
    ports = [
        {
            "name": p.name,
            "port": p.servicePort or p.containerPort,
            "targetPort": p.name,
            # Explicit, because server-side apply keys Service ports by (port, protocol).
            "protocol": "TCP",
        }
        for p in inputs.runtime.ports
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": inputs.metadata(inputs.name),
        "spec": {"type": "ClusterIP", "selector": inputs.selector(), "ports": ports},
    }


def service_monitor(inputs: RenderInputs) -> dict | None:
    """prometheus-operator's ServiceMonitor scraping the runtime's metrics port, or None when off."""
    if not inputs.env.features.enableModelSpecificMetrics:
        return None
    metrics = inputs.runtime.metrics
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": inputs.metadata(inputs.name),
        "spec": {
            "selector": {"matchLabels": inputs.selector()},
            "namespaceSelector": {"matchNames": [inputs.namespace]},
            "endpoints": [
                {"port": metrics.port, "path": metrics.path, "scheme": "http", "interval": SCRAPE_INTERVAL}
            ],
        },
    }
