"""A model's observability objects, rendered beside its manifests from the same loaded data.

The one entry point the manifest rendering calls: ``observability_objects(inputs)``. Like the
ServiceMonitor, everything here exists only where the environment turns model metrics on.

- PrometheusRule ``<model>``: the recording rules that put the model's runtime metrics under the
  common vocabulary (vocabulary.py), then the alerts over them (alerts.py).
- ConfigMap ``<model>-dashboard``: the Grafana dashboard (dashboard.py).
- ConfigMap ``<model>-prometheus-adapter``: the rules serving the HPA's custom metrics (adapter.py),
  only when the HPA names one.
"""

from __future__ import annotations

from tools.k8s.render.inputs import RenderInputs
from tools.observability.adapter import adapter_config_map
from tools.observability.alerts import OBJECTIVES, alert_rules
from tools.observability.dashboard import dashboard_config_map
from tools.observability.vocabulary import recording_rules

RULE_GROUP_INTERVAL = "30s"  # as the ServiceMonitor's scrape interval


def rule_groups(inputs: RenderInputs) -> list[dict]:
    return [
        {
            "name": f"{inputs.name}.vocabulary",
            "interval": RULE_GROUP_INTERVAL,
            "rules": recording_rules(inputs, OBJECTIVES.latency_seconds),
        },
        {"name": f"{inputs.name}.alerts", "rules": alert_rules(inputs)},
    ]


def prometheus_rule(inputs: RenderInputs) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": inputs.metadata(inputs.name),
        "spec": {"groups": rule_groups(inputs)},
    }


def observability_objects(inputs: RenderInputs) -> list[dict]:
    """The model's PrometheusRule, dashboard and adapter rules; none when model metrics are off."""
    if not inputs.env.features.enableModelSpecificMetrics:
        return []
    objects = [prometheus_rule(inputs), dashboard_config_map(inputs), adapter_config_map(inputs)]
    return [o for o in objects if o is not None]
