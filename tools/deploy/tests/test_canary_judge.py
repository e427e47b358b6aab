"""The canary decision (tools/deploy/canary.py): exposition text written by prometheus-client,
read back by its parser, counted by what each runtime's observability.yaml calls requests and
errors. (runtimes/fastapi/tests/test_canary_metrics.py does the same with the fastapi runtime's
own collectors.)"""

from __future__ import annotations

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, generate_latest

from tools.deploy.canary import NoRequestMetrics, breach, counts, series_of
from tools.errors import UserError
from tools.k8s.schema.catalog import Catalog
from tools.k8s.schema.environments import CanaryPolicy, load_environment, load_environment_file
from tools.paths import REPO_ROOT

POLICY = CanaryPolicy(windowSeconds=30, maxErrorRatio=0.05, minRequests=10)
FASTAPI = Catalog().runtime_metrics("fastapi")


@pytest.fixture
def server():
    """A registry with the fastapi runtime's request counter (name and labels as its vocabulary
    reads them); returns (answer(route, status, times), scrape())."""
    registry = CollectorRegistry()
    (metric,) = {s.metric for s in series_of(FASTAPI.requests)}
    labels = ["route", "method", "status"]
    requests = Counter(metric.removesuffix("_total"), "answers", labels, registry=registry)

    def answer(route: str, status: int, times: int = 1) -> None:
        requests.labels(route=route, method="POST", status=str(status)).inc(times)

    return answer, lambda: generate_latest(registry).decode()


def test_counts_inference_requests_and_5xx_as_the_runtime_vocabulary_says(server):
    answer, scrape = server
    before = counts(scrape(), FASTAPI)
    answer("/predict", 200, 7)
    answer("/v2/models/{name}/infer", 500, 2)
    answer("/predict", 413)  # a client error is the client's, not the canary's
    answer("/ready", 503, 50)  # probes while loading are no requests to the model
    window = counts(scrape(), FASTAPI) - before
    assert (window.requests, window.errors) == (10, 2)


def test_a_healthy_window_promotes_and_a_failing_one_names_the_threshold_and_value(server):
    answer, scrape = server
    before = counts(scrape(), FASTAPI)
    answer("/predict", 200, 20)
    assert breach(counts(scrape(), FASTAPI) - before, POLICY, final=True) is None
    answer("/predict", 500, 5)
    found = breach(counts(scrape(), FASTAPI) - before, POLICY, final=False)  # early: enough requests
    assert found == "maxErrorRatio 0.05 breached: 0.200 (5 of 25 requests were errors)"


def test_too_few_requests_is_only_a_breach_when_the_window_ends(server):
    answer, scrape = server
    before = counts(scrape(), FASTAPI)
    answer("/predict", 200, 3)
    window = counts(scrape(), FASTAPI) - before
    assert breach(window, POLICY, final=False) is None
    assert breach(window, POLICY, final=True) == (
        "minRequests 10 not reached: the canary answered 3 request(s) in 30 s"
    )


def test_every_runtime_vocabulary_can_be_read_and_other_servers_text_is_refused():
    catalog = Catalog()
    for runtime in ("fastapi", "triton", "torchserve", "tfserving"):
        vocabulary = catalog.runtime_metrics(runtime)
        assert series_of(vocabulary.requests) and series_of(vocabulary.errors), runtime
    triton = catalog.runtime_metrics("triton")
    text = "# TYPE nv_inference_request_success counter\nnv_inference_request_success 3\n"
    text += "# TYPE nv_inference_request_failure counter\nnv_inference_request_failure 1\n"
    assert counts(text, triton).requests == 4 and counts(text, triton).errors == 1
    with pytest.raises(NoRequestMetrics, match="none of model_server_requests_total"):
        counts(text, FASTAPI)


def test_a_bad_policy_in_environment_data_is_one_error_naming_the_field(tmp_path):
    env = yaml.safe_load((REPO_ROOT / "platform/environments/local.yaml").read_text())
    (tmp_path / "local.yaml").write_text(yaml.safe_dump({**env, "canary": {"maxErrorRatio": 2}}))
    with pytest.raises(UserError) as error:
        load_environment_file(tmp_path / "local.yaml")
    assert "canary.maxErrorRatio" in str(error.value)
    assert load_environment("local").canary.windowSeconds > 0  # the repo's own data loads
