"""The dashboard, the prometheus-adapter rules and the vocabulary, rendered from the real data:
every query parses in promtool, the dashboard round-trips through Grafana's own SDK models, the
adapter serves exactly the HPA's Pods metrics, and bad runtime data is a one-line error."""

from __future__ import annotations

import itertools
import json

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from tools.errors import UserError
from tools.k8s.render import render
from tools.k8s.render.inputs import load_inputs
from tools.k8s.tests.repo_copy import copy_repo_data
from tools.observability import vocabulary
from tools.observability.adapter import adapter_rules, pods_metrics
from tools.observability.dashboard import DASHBOARD_LABEL, panel_queries
from tools.observability.objects import observability_objects
from tools.observability.tests.promtool import check_rules, expressions_as_rules, write_rules

MODELS = ("yolo", "gpt2", "resnet50")
ENVS = ("local", "staging", "prod")
CASES = list(itertools.product(MODELS, ENVS))


def _dashboard(model: str, env: str) -> dict:
    (config_map,) = [d for d in render(model, env) if d["metadata"]["name"] == f"{model}-dashboard"]
    assert config_map["metadata"]["labels"].items() >= DASHBOARD_LABEL.items()
    (text,) = config_map["data"].values()
    return json.loads(text)


@pytest.mark.parametrize(("model", "env"), CASES)
def test_dashboard_round_trips_through_grafanas_models(model, env):
    register_default_plugins()  # so panels and Prometheus queries decode as their own types
    data = _dashboard(model, env)
    again = json.loads(JSONEncoder(sort_keys=True).encode(Dashboard.from_json(data)))
    for panel in again["panels"]:  # the decoder fills in the timeseries' empty custom field config
        if panel.get("fieldConfig", {}).get("defaults", {}).get("custom") == {}:
            del panel["fieldConfig"]["defaults"]["custom"]
    assert again == data, "every field of the dashboard is one Grafana's model knows"
    titles = [p["title"] for p in data["panels"] if p["type"] == "timeseries"]
    assert {"Requests", "Errors", "Latency", "Replicas"} <= set(titles)
    assert ("Batch size" in titles) == (model == "gpt2"), "the batcher's panel where there is one"
    assert ("GPU" in titles) == (env != "local" and model != "yolo")
    for panel in data["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_every_dashboard_and_adapter_query_parses_in_promtool(tmp_path):
    expressions = []
    for model, env in CASES:
        inputs = load_inputs(model, env)
        expressions += [q for queries in panel_queries(inputs).values() for q, _, _ in queries]
        for rule in adapter_rules(inputs):
            # What the adapter substitutes for a request about the pods of one namespace.
            query = (
                rule["metricsQuery"]
                .replace("<<.Series>>", rule["name"]["matches"].strip("^$"))
                .replace("<<.LabelMatchers>>", 'namespace="creativeflow-ai-serving",pod=~"gpt2-.*"')
                .replace("<<.GroupBy>>", "pod")
            )
            expressions += [rule["seriesQuery"], query]
    assert len(expressions) > 50
    result = check_rules(write_rules(expressions_as_rules("queries", expressions), tmp_path / "q.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_refuses_a_broken_query(tmp_path):
    result = check_rules(
        write_rules(expressions_as_rules("q", ["sum by (namespace (up)"]), tmp_path / "q.yaml")
    )
    assert result.returncode == 1


@pytest.mark.parametrize(("model", "env"), CASES)
def test_adapter_serves_exactly_the_hpas_pods_metrics(model, env):
    docs = render(model, env)
    hpa = next((d for d in docs if d["kind"] == "HorizontalPodAutoscaler"), None)
    wanted = pods_metrics(hpa)
    adapter = [d for d in docs if d["metadata"]["name"] == f"{model}-prometheus-adapter"]
    if not wanted:
        assert adapter == [], "no custom metric, no adapter rules"
        return
    (config_map,) = adapter
    rules = yaml.safe_load(config_map["data"]["rules.yaml"])["rules"]
    assert [r["name"]["as"] for r in rules] == wanted
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu", "the CPU fallback stays"
    for rule in rules:
        assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}


def test_staging_triton_queue_metric_is_served():
    rules = adapter_rules(load_inputs("gpt2", "staging"))
    assert [r["name"]["as"] for r in rules] == ["avg_time_queue_us"]
    assert "nv_inference_request_success" in rules[0]["metricsQuery"]


def test_metrics_off_renders_nothing_observability():
    inputs = load_inputs("yolo", "staging")
    features = inputs.env.features.model_copy(update={"enableModelSpecificMetrics": False})
    off = inputs.env.model_copy(update={"features": features})
    import dataclasses

    assert observability_objects(dataclasses.replace(inputs, env=off)) == []


def test_recording_rules_name_one_vocabulary_for_every_runtime():
    recorded = {}
    for model in MODELS:
        inputs = load_inputs(model, "prod")
        recorded[model] = {r["record"] for r in vocabulary.recording_rules(inputs, 0.5)}
    common = set.intersection(*recorded.values())
    for window in vocabulary.WINDOWS:
        assert vocabulary.REQUESTS.format(window=window) in common
        assert vocabulary.ERROR_RATIO.format(window=window) in common
    assert vocabulary.latency_name(0.99) in common


def test_a_template_without_selector_is_a_user_error(tmp_path):
    root = copy_repo_data(tmp_path)
    path = root / "runtimes" / "fastapi" / "observability.yaml"
    data = yaml.safe_load(path.read_text())
    data["requests"] = "sum(rate(model_server_requests_total[$window]))"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(UserError) as caught:
        render("yolo", "staging", root=root)
    assert caught.value.field == "requests" and "$selector" in caught.value.message


def test_a_missing_runtime_metrics_file_is_a_user_error(tmp_path):
    root = copy_repo_data(tmp_path)
    (root / "runtimes" / "triton" / "observability.yaml").unlink()
    with pytest.raises(UserError, match="says nothing about its metrics"):
        render("gpt2", "prod", root=root)


def test_an_objective_off_the_histogram_buckets_is_a_user_error():
    with pytest.raises(UserError, match="not a bucket bound"):
        vocabulary.recording_rules(load_inputs("yolo", "prod"), 0.42)
