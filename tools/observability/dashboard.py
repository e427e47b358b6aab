"""A model's Grafana dashboard, built with Grafana's own grafana-foundation-sdk, in a ConfigMap.

One layout for every model, over the common vocabulary (vocabulary.py): requests, errors, latency
percentiles, replicas, and queue time, batch size and GPU activity where the runtime and the
environment have them. The ConfigMap carries the label Grafana's
dashboard sidecar watches (kube-prometheus-stack's default ``grafana_dashboard: "1"``), so Grafana
picks the dashboard up without anyone importing JSON by hand.
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders.common import VizLegendOptions, VizTooltipOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from tools.k8s.render.inputs import RenderInputs
from tools.observability import alerts
from tools.observability import vocabulary as v

DASHBOARD_LABEL = {"grafana_dashboard": "1"}
DATASOURCE_VARIABLE = "datasource"


def panel_queries(inputs: RenderInputs) -> dict[str, list[tuple[str, str, str]]]:
    """Panel title -> [(PromQL, legend, unit)]: the queries, kept apart so tests can parse them."""
    sel = v.selector(inputs)
    ksm = f'namespace="{inputs.namespace}", deployment="{inputs.name}"'
    panels = {
        "Requests": [(f"{v.REQUESTS.format(window='5m')}{{{sel}}}", "requests/s", "reqps")],
        "Errors": [
            (f"{v.ERRORS.format(window='5m')}{{{sel}}}", "server errors/s", "reqps"),
            (f"{v.ERROR_RATIO.format(window='5m')}{{{sel}}}", "error ratio", "percentunit"),
        ],
        "Latency": [(f"{v.latency_name(q)}{{{sel}}}", f"p{q * 100:g}", "s") for q in v.QUANTILES],
        "Replicas": [
            (f"{v.REPLICAS_UP}{{{sel}}}", "scraped", "short"),
            (f"{alerts.KSM_SPEC_REPLICAS}{{{ksm}}}", "wanted", "short"),
            (f"{alerts.KSM_READY_REPLICAS}{{{ksm}}}", "ready", "short"),
        ],
    }
    # Queue and batch panels only where the runtime has them (the fastapi runtime does not batch).
    metrics = v.load_runtime_metrics(inputs)
    if metrics.queueSeconds is not None:
        panels["Queue time"] = [(f"{v.QUEUE}{{{sel}}}", "average queue wait", "s")]
    if metrics.batchSize is not None:
        panels["Batch size"] = [(f"{v.BATCH}{{{sel}}}", "inferences per execution", "short")]
    if inputs.gpu_resource:
        busy, _ = alerts.gpu_busy_expr(inputs)
        panels["GPU"] = [(busy, "GPU busy {{pod}}", "short")]
    return panels


def _timeseries(title: str, queries: list[tuple[str, str, str]], datasource: DataSourceRef) -> Timeseries:
    legend = VizLegendOptions().display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM)
    panel = (
        Timeseries()
        .title(title)
        .unit(queries[0][2])
        .datasource(datasource)
        .span(12)
        .height(8)
        .legend(legend.show_legend(True))
        .tooltip(VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.NONE))
    )
    for index, (expr, legend, _) in enumerate(queries):
        panel = panel.with_target(
            Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + index)).datasource(datasource)
        )
    return panel


def dashboard(inputs: RenderInputs) -> dict:
    """The dashboard model as Grafana stores it (JSON-ready dict)."""
    datasource = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")
    builder = (
        Dashboard(f"{inputs.name} model ({inputs.namespace})")
        # Grafana caps uids at 40 characters.
        .uid(f"{inputs.name}-{inputs.namespace}"[:40])
        .tags([inputs.platform.partOf, inputs.runtime.name, "model-server"])
        .refresh("30s")
        .time("now-3h", "now")
        .with_variable(DatasourceVariable(DATASOURCE_VARIABLE).label("Prometheus").type("prometheus"))
        .with_row(Row("Traffic"))
    )
    for title, queries in panel_queries(inputs).items():
        builder = builder.with_panel(_timeseries(title, queries, datasource))
    return json.loads(JSONEncoder(sort_keys=True).encode(builder.build()))


def dashboard_config_map(inputs: RenderInputs) -> dict:
    metadata = inputs.metadata(f"{inputs.name}-dashboard")
    metadata["labels"] = {**metadata["labels"], **DASHBOARD_LABEL}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {f"{inputs.name}.json": json.dumps(dashboard(inputs), indent=2, sort_keys=True) + "\n"},
    }
