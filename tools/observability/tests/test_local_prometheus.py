"""A real Prometheus scrapes real servers: yolo on the fastapi runtime (uvicorn) and gpt2 on
tritonserver, with the scrape config and rule files made from the `local` environment's rendered
ServiceMonitors and PrometheusRules. After real requests, every metric name an alert, a dashboard
or an HPA uses, whose source runs here, has samples; so do the common names recorded from them.
The names whose source runs only on a cluster are listed with where they come from.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tools.k8s.render.inputs import load_inputs
from tools.k8s.render.scaling import DCGM_GPU_UTIL, DCGM_MIG_ENGINE_ACTIVE
from tools.observability import local_prometheus
from tools.observability.adapter import adapter_rules
from tools.observability.alerts import DCGM_FB_FREE, DCGM_FB_USED, KSM_READY_REPLICAS, KSM_SPEC_REPLICAS
from tools.observability.dashboard import panel_queries
from tools.observability.objects import rule_groups
from tools.observability.promql import metric_names
from tools.testing.ports import free_port

pytestmark = pytest.mark.slow  # starts uvicorn with the yolo model, tritonserver and Prometheus

# Sources that do not run on this machine: name -> who serves it on a cluster.
CLUSTER_ONLY = {
    DCGM_GPU_UTIL: "NVIDIA DCGM exporter (GPU utilisation, percent)",
    DCGM_MIG_ENGINE_ACTIVE: "NVIDIA DCGM exporter (graphics engine activity under MIG, ratio)",
    DCGM_FB_USED: "NVIDIA DCGM exporter (frame buffer used, MiB)",
    DCGM_FB_FREE: "NVIDIA DCGM exporter (frame buffer free, MiB)",
    KSM_SPEC_REPLICAS: "kube-state-metrics (Deployment spec.replicas)",
    KSM_READY_REPLICAS: "kube-state-metrics (Deployment status.readyReplicas)",
}
ENVIRONMENTS = ("local", "staging", "prod")  # the HPA's and GPU alerts' names come from these


def names_used(model: str) -> set[str]:
    """Every metric name the model's alerts, recording rules, dashboard and HPA adapter rules read."""
    names: set[str] = set()
    for env in ENVIRONMENTS:
        inputs = load_inputs(model, env)
        for group in rule_groups(inputs):
            for rule in group["rules"]:
                names |= metric_names(rule["expr"])
                if "record" in rule:
                    names.add(rule["record"])
        for queries in panel_queries(inputs).values():
            for expr, _, _ in queries:
                names |= metric_names(expr)
        for rule in adapter_rules(inputs):
            names |= metric_names(rule["seriesQuery"])
            names |= metric_names(
                rule["metricsQuery"].replace("<<.LabelMatchers>>", "").replace("<<.GroupBy>>", "pod")
            )
    return names


def test_cluster_only_names_are_documented():
    used = names_used("gpt2") | names_used("resnet50")
    assert set(CLUSTER_ONLY) <= used, "a documented cluster-only name no rule uses any more"


@pytest.fixture(scope="module")
def yolo(tmp_path_factory):
    from runtimes.fastapi.tests.server_process import running_server
    from tools.artifacts import build_artifacts

    weights = build_artifacts("//models/yolo:weights")
    settings = {
        "MODEL_NAME": "yolo",
        "MODEL_HANDLER": "models.yolo.handler:YOLOModelHandler",
        "MODEL_PATH": str(weights / "model.onnx"),
    }
    with running_server(settings, tmp_path_factory.mktemp("yolo"), wait_for="/ready") as server:
        yield server


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    from models.gpt2.artifacts import build
    from models.gpt2.repository import assemble
    from runtimes.triton.local import local_server

    weights = tmp_path_factory.mktemp("gpt2-weights")
    build(weights)
    repository = assemble(tmp_path_factory.mktemp("repository"), weights, gpu=False, link_weights=True)
    with local_server(repository, log_file=tmp_path_factory.mktemp("triton") / "log") as server:
        yield server


@pytest.fixture(scope="module")
def prometheus(yolo, gpt2, tmp_path_factory):
    directory = tmp_path_factory.mktemp("prometheus")
    ports = {"yolo": {"http": yolo.port}, "gpt2": {"metrics": gpt2.options.metrics_port}}
    state = local_prometheus.start("local", free_port(), directory=directory, ports=ports)
    try:
        yield state, directory
    finally:
        assert local_prometheus.stop("local", directory)


def _send_traffic(yolo, gpt2, bus_jpg: bytes) -> None:
    from models.gpt2 import client as gpt2_client

    with yolo.client() as client:
        for _ in range(3):
            response = client.post("/predict", files={"file": ("bus.jpg", bus_jpg, "image/jpeg")})
            assert response.status_code == 200, response.text
        assert (
            client.post("/predict", files={"file": ("x.jpg", b"not an image", "image/jpeg")}).status_code
            == 415
        )
    for _ in range(3):
        assert gpt2_client.generate(gpt2.options.http_url, ["The harbour town wakes"], max_new_tokens=4)


@pytest.fixture(scope="module")
def traffic(prometheus, yolo, gpt2, bus_jpg):
    # Twice, two scrapes apart: a counter first seen with all its requests already counted has a
    # rate of 0 until it grows again, as on any real server.
    _send_traffic(yolo, gpt2, bus_jpg)
    time.sleep(2.5 * float(local_prometheus.LOCAL_INTERVAL.rstrip("s")))
    _send_traffic(yolo, gpt2, bus_jpg)
    return prometheus


def _has_samples(url: str, name: str, model: str) -> bool:
    return bool(local_prometheus.query(url, f'count({{__name__="{name}", service="{model}"}})'))


@pytest.mark.parametrize("model", ["yolo", "gpt2"])
def test_every_metric_used_has_samples_after_real_requests(traffic, model):
    state, _ = traffic
    wanted = {n for n in names_used(model) if n not in CLUSTER_ONLY}
    missing = set(wanted)
    deadline = time.monotonic() + 120  # scrapes and rule evaluations every 5 s
    while missing and time.monotonic() < deadline:
        missing = {n for n in missing if not _has_samples(state.url, n, model)}
        if missing:
            time.sleep(2)
    assert not missing, f"no samples for {sorted(missing)} in {sorted(wanted)}"
    assert len(wanted) > 10


def test_status_shows_rate_errors_and_p99(traffic):
    _, directory = traffic
    for model in ("yolo", "gpt2"):
        deadline = time.monotonic() + 60
        while True:
            (line,) = local_prometheus.summary_lines(load_inputs(model, "local"), directory)
            if "n/a" not in line or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert "req/s" in line and "n/a" not in line, line
        assert " errors 0.00 %" in line, line  # the 415 is the client's mistake, not an error


def test_scrape_targets_are_up(prometheus):
    state, _ = prometheus
    targets = httpx.get(f"{state.url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    assert {t["labels"]["service"]: t["health"] for t in targets} == {"yolo": "up", "gpt2": "up"}


def test_the_hpa_queue_metric_is_computable_from_real_triton_series(traffic):
    """The adapter's query for the HPA's avg_time_queue_us, as the adapter expands it for a pod."""
    state, _ = traffic
    (rule,) = adapter_rules(load_inputs("gpt2", "staging"))
    query = (
        rule["metricsQuery"]
        .replace("<<.LabelMatchers>>", 'namespace="creativeflow-ai-serving",pod="local-gpt2"')
        .replace("<<.GroupBy>>", "pod")
    )
    (sample,) = local_prometheus.query(state.url, query)
    assert sample["metric"] == {"pod": "local-gpt2"}
    assert float(sample["value"][1]) >= 0  # microseconds of queue per request over 30 s
