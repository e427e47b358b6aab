"""The canary decision (tools/deploy/canary.py) on the fastapi runtime's real /metrics text: the
runtime's own collectors (runtimes/fastapi/metrics.py) count requests, prometheus-client writes
the exposition text exactly as the server's /metrics does, and its parser reads it back."""

from __future__ import annotations

import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest

from runtimes.fastapi.metrics import REQUESTS
from tools.deploy.canary import NoRequestMetrics, breach, counts
from tools.errors import UserError
from tools.k8s.schema.environments import CanaryPolicy, load_environment, load_environment_file
from tools.paths import REPO_ROOT

POLICY = CanaryPolicy(windowSeconds=30, maxErrorRatio=0.05, minRequests=10)


def scrape() -> str:
    return generate_latest(REGISTRY).decode()


def answer(route: str, status: int, times: int = 1) -> None:
    REQUESTS.labels(route=route, method="POST", status=str(status)).inc(times)


def test_counts_client_requests_and_5xx_but_not_probes():
    before = counts(scrape())
    answer("/predict", 200, 7)
    answer("/v2/models/{name}/infer", 500, 2)
    answer("/predict", 413)  # a client error is the client's, not the canary's
    REQUESTS.labels(route="/ready", method="GET", status="503").inc(50)  # probes while loading
    window = counts(scrape()) - before
    assert (window.requests, window.errors) == (10, 2)


def test_a_healthy_window_promotes_and_a_failing_one_names_the_threshold_and_value():
    before = counts(scrape())
    answer("/predict", 200, 20)
    assert breach(counts(scrape()) - before, POLICY, final=True) is None
    answer("/predict", 500, 5)
    found = breach(counts(scrape()) - before, POLICY, final=False)  # early: enough requests already
    assert found == "maxErrorRatio 0.05 breached: 0.200 (5 of 25 requests answered 5xx)"


def test_too_few_requests_is_only_a_breach_when_the_window_ends():
    before = counts(scrape())
    answer("/predict", 200, 3)
    window = counts(scrape()) - before
    assert breach(window, POLICY, final=False) is None
    assert breach(window, POLICY, final=True) == (
        "minRequests 10 not reached: the canary answered 3 request(s) in 30 s"
    )


def test_a_server_without_the_request_counter_cannot_be_judged():
    with pytest.raises(NoRequestMetrics, match="no model_server_requests_total"):
        counts("# TYPE nv_inference_request_success counter\nnv_inference_request_success 3\n")


def test_a_bad_policy_in_environment_data_is_one_error_naming_the_field(tmp_path):
    env = yaml.safe_load((REPO_ROOT / "platform/environments/local.yaml").read_text())
    (tmp_path / "local.yaml").write_text(yaml.safe_dump({**env, "canary": {"maxErrorRatio": 2}}))
    with pytest.raises(UserError) as error:
        load_environment_file(tmp_path / "local.yaml")
    assert "canary.maxErrorRatio" in str(error.value)
    assert load_environment("local").canary.windowSeconds > 0  # the repo's own data loads
