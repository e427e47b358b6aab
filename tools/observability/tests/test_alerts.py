"""Every rendered rule passes ``promtool check rules``, and every alert is unit-tested with
``promtool test rules`` on synthetic series of its runtime's own metrics: it fires when it should
and stays silent when it should not. The recording rules run in the same tests."""

from __future__ import annotations

import itertools

import pytest

from tools.k8s.render.inputs import load_inputs
from tools.k8s.render.scaling import DCGM_GPU_UTIL, DCGM_MIG_ENGINE_ACTIVE
from tools.observability import alerts
from tools.observability.objects import rule_groups
from tools.observability.tests import synthetic as s
from tools.observability.tests.promtool import check_rules, test_rules, write_rules

MODELS = ("yolo", "gpt2", "resnet50")
ENVS = ("local", "staging", "prod")
CASES = list(itertools.product(MODELS, ENVS))


def _alert(groups: list[dict], name: str) -> dict:
    return next(r for g in groups for r in g["rules"] if r.get("alert") == name)


def _by_service(model: str) -> dict:
    return {"namespace": s.NAMESPACE, "service": model}


def _by_pod(model: str) -> dict:
    return {"namespace": s.NAMESPACE, "pod": f"{model}-7d9f-x2k"}


def scenarios(inputs) -> dict[str, tuple[list, list, str, dict]]:
    """alert -> (series where it fires, series where it must not, eval time, the alert's labels)."""
    runtime, model = inputs.runtime.name, inputs.name
    short, long = 20, 90  # minutes of series
    out = {
        "ModelUnavailable": (
            [s.series("up", s.base(model), f"0x{short}")],
            [s.series("up", s.base(model), f"1x{short}")],
            "10m",
            _by_service(model),
        ),
        "ModelErrorBudgetBurnFast": (
            s.traffic(runtime, model, 100, 10, long),  # 10 % server errors
            s.traffic(runtime, model, 1000, 1, long),  # 0.1 %
            "80m",
            _by_service(model),
        ),
        "ModelErrorBudgetBurnSlow": (
            s.traffic(runtime, model, 100, 4, 420),  # 4 %: over 6x the 0.5 % budget, under 14.4x
            s.traffic(runtime, model, 100, 1, 420),
            "6h30m",
            _by_service(model),
        ),
        "ModelLatencyBudgetBurn": (
            s.latency(runtime, model, True, long),
            s.latency(runtime, model, False, long),
            "80m",
            _by_service(model),
        ),
        "ModelNotReady": (
            s.kube_state(model, 1, 2, short),
            s.kube_state(model, 2, 2, short),
            "15m",
            {"namespace": s.NAMESPACE, "deployment": model, "job": "kube-state-metrics"},
        ),
    }
    if runtime != "tfserving":
        out["ModelQueueTimeHigh"] = (
            s.queue(runtime, model, 1.0, short),
            s.queue(runtime, model, 0.05, short),
            "15m",
            _by_service(model),
        )
    if inputs.gpu_resource:
        metric, busy, calm = (
            (DCGM_MIG_ENGINE_ACTIVE, 0.99, 0.5) if inputs.env.features.enableAdvancedGPUFeaturesMIG
            else (DCGM_GPU_UTIL, 99, 50)
        )  # fmt: skip
        out["ModelGPUMemoryHigh"] = (
            s.gpu(model, alerts.DCGM_FB_USED, 9500, 40) + s.gpu(model, alerts.DCGM_FB_FREE, 500, 40),
            s.gpu(model, alerts.DCGM_FB_USED, 1000, 40) + s.gpu(model, alerts.DCGM_FB_FREE, 9000, 40),
            "20m",
            _by_pod(model),
        )
        out["ModelGPUSaturated"] = (
            s.gpu(model, metric, busy, 40),
            s.gpu(model, metric, calm, 40),
            "35m",
            _by_pod(model),
        )
    return out


def _case(title: str, series: list[dict], at: str, alert: str, expected: list[dict]) -> dict:
    check = {"eval_time": at, "alertname": alert, "exp_alerts": expected}
    return {"name": title, "interval": "1m", "input_series": series, "alert_rule_test": [check]}


def _expected(rule: dict, labels: dict) -> dict:
    return {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": rule["annotations"]}


def unit_tests(inputs, groups: list[dict]) -> list[dict]:
    tests = []
    for name, (firing, quiet, at, labels) in scenarios(inputs).items():
        rule = _alert(groups, name)
        tests.append(_case(f"{name} fires", firing, at, name, [_expected(rule, labels)]))
        tests.append(_case(f"{name} stays silent", quiet, at, name, []))
    # Unavailable also when no replica was ever scraped (absent), not because another model is down;
    # and another model's errors never page this one.
    other = "resnet50" if inputs.name != "resnet50" else "yolo"
    unavailable = _expected(_alert(groups, "ModelUnavailable"), _by_service(inputs.name))
    others_up = [s.series("up", s.base(other), "1x20")]
    tests.append(_case("nothing scraped is unavailable", others_up, "10m", "ModelUnavailable", [unavailable]))
    others_errors = s.traffic(inputs.runtime.name, other, 100, 50, 90)
    tests.append(_case("another model's errors", others_errors, "80m", "ModelErrorBudgetBurnFast", []))
    return tests


@pytest.mark.parametrize(("model", "env"), CASES)
def test_every_alert_fires_and_stays_silent_on_synthetic_series(tmp_path, model, env):
    inputs = load_inputs(model, env)
    groups = rule_groups(inputs)
    rules = write_rules(groups, tmp_path / "rules.yaml")
    checked = check_rules(rules)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    alert_names = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert alert_names == set(scenarios(inputs)), "every alert needs a firing and a silent scenario"
    result = test_rules(rules, unit_tests(inputs, groups), tmp_path / "tests.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_expectation_fails(tmp_path):
    """The harness can fail: the firing scenario, expected silent, is reported by promtool."""
    inputs = load_inputs("yolo", "staging")
    groups = rule_groups(inputs)
    rules = write_rules(groups, tmp_path / "rules.yaml")
    firing = scenarios(inputs)["ModelErrorBudgetBurnFast"][0]
    wrong = [_case("firing, expected silent", firing, "80m", "ModelErrorBudgetBurnFast", [])]
    result = test_rules(rules, wrong, tmp_path / "tests.yaml")
    assert result.returncode == 1
    assert "ModelErrorBudgetBurnFast" in result.stdout + result.stderr


def test_gpu_alerts_only_where_the_model_has_a_gpu():
    names = lambda m, e: {r.get("alert") for g in rule_groups(load_inputs(m, e)) for r in g["rules"]}  # noqa: E731
    assert "ModelGPUMemoryHigh" not in names("yolo", "prod")
    assert "ModelGPUMemoryHigh" not in names("gpt2", "local")
    assert {"ModelGPUMemoryHigh", "ModelGPUSaturated"} <= names("gpt2", "prod")
