"""Our ServiceMonitor/PrometheusRule CRDs (tools/k8s/checks/monitoring_crds.py) through the strict
validator: the reference's formats hold, and a field the schema leaves out says where to add it.
The same CRDs on a real API server: tools/deploy/tests/test_manifests_on_apiserver.py."""

from __future__ import annotations

import pytest

from tools.k8s.checks import monitoring_crds
from tools.k8s.checks.validate import schema_problems


def service_monitor(**endpoint) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "m", "namespace": "n"},
        "spec": {"selector": {"matchLabels": {"app": "m"}}, "endpoints": [{"port": "metrics", **endpoint}]},
    }


def prometheus_rule(group: dict | None = None, **rule) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "r", "namespace": "n"},
        "spec": {
            "groups": [{"name": "g", **(group or {}), "rules": [{"record": "a:b", "expr": "up", **rule}]}]
        },
    }


def problems(doc: dict) -> list[str]:
    return schema_problems(doc, versions=("1.30.0",))


@pytest.mark.parametrize("duration", ["0", "30s", "500ms", "1h20m15s", "15d", "2w", "1y"])
def test_durations_of_the_reference_pass(duration):
    assert problems(service_monitor(interval=duration, scrapeTimeout=duration)) == []
    assert problems(prometheus_rule({"interval": duration}, alert="A", **{"for": duration})) == []


@pytest.mark.parametrize("duration", ["five minutes", "30 s", "1.5h", "-1m", "30S", "1m1h"])
def test_other_durations_fail(duration):
    (problem,) = problems(service_monitor(interval=duration))
    assert problem.startswith("ServiceMonitor/m: spec.endpoints.0.interval: ")
    (problem,) = problems(prometheus_rule(alert="A", **{"for": duration}))
    assert "spec.groups.0.rules.0.for" in problem


def test_a_field_left_out_of_our_schema_says_where_to_add_it():
    (problem,) = problems(service_monitor(tlsConfig={"insecureSkipVerify": True}))
    assert "'tlsConfig' was unexpected" in problem
    assert "tools/k8s/checks/monitoring_crds.py lists fewer fields" in problem
    # A wrong value is not a missing field: no hint.
    (problem,) = problems(service_monitor(scheme="ftp"))
    assert "monitoring_crds.py" not in problem


@pytest.mark.parametrize(("action", "ok"), [("labelmap", True), ("LabelMap", True), ("LABELMAP", False)])
def test_relabel_actions_are_prometheus_actions_in_either_spelling(action, ok):
    relabeling = {"action": action, "regex": "__meta_(.+)", "sourceLabels": ["__name__"]}
    assert (problems(service_monitor(relabelings=[relabeling])) == []) is ok


@pytest.mark.parametrize(("strategy", "ok"), [("warn", True), ("ABORT", True), ("", True), ("retry", False)])
def test_partial_response_strategy_is_abort_or_warn_in_any_case(strategy, ok):
    assert (problems(prometheus_rule({"partial_response_strategy": strategy})) == []) is ok


def test_expr_is_int_or_string_and_required():
    assert problems(prometheus_rule(expr=1)) == []
    assert problems(prometheus_rule(expr=["up"])) != []
    rule = prometheus_rule()
    del rule["spec"]["groups"][0]["rules"][0]["expr"]
    assert any("'expr' is a required property" in p for p in problems(rule))


def test_each_crd_is_labelled_as_ours_and_names_its_kind():
    for kind in monitoring_crds.KINDS:
        crd = monitoring_crds.crd(kind)
        assert crd["metadata"]["annotations"][monitoring_crds.SCHEMA_NOTE_KEY].startswith(
            "written by creativeflow"
        )
        assert crd["spec"]["names"]["kind"] == kind
        assert crd["metadata"]["name"] == f"{crd['spec']['names']['plural']}.monitoring.coreos.com"
        (version,) = crd["spec"]["versions"]
        assert version["schema"]["openAPIV3Schema"] == monitoring_crds.schema(kind)
