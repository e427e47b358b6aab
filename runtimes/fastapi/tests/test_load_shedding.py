"""Load shedding on the real server (uvicorn in a subprocess): past threads + queue, a request is
refused at once with 503, Retry-After and a ``{"error": ...}`` body, while the admitted ones
succeed; the refusals are counted in /metrics and the places come back once answers are sent."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from runtimes.fastapi.settings import Settings
from runtimes.fastapi.tests.conftest import TOY_HANDLER
from runtimes.fastapi.tests.server_process import running_server

THREADS, QUEUED, BURST = 1, 2, 8


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shedding")
    gate = tmp / "gate"
    gate.write_text("open")
    settings = {
        "MODEL_NAME": "toy",
        "MODEL_HANDLER": TOY_HANDLER,
        "MODEL_PATH": str(gate),
        "SERVER_INFERENCE_THREADS": str(THREADS),
        "SERVER_MAX_QUEUED": str(QUEUED),
        "SERVER_RETRY_AFTER_SECONDS": "2",
    }
    with running_server(settings, tmp, wait_for="/ready") as server:
        yield server


def slow_predict(server, bus_jpg: bytes) -> httpx.Response:
    # The toy handler holds its inference thread 2 s for a body starting "sleep:2;": the first
    # THREADS + QUEUED requests of the burst are all still inside when the others arrive.
    with server.client() as client:
        return client.post("/predict", content=b"sleep:2;" + bus_jpg, headers={"content-type": "image/jpeg"})


def shed_count(server) -> float:
    with server.client() as client:
        text = client.get("/metrics").text
    found = re.search(r'^model_server_requests_shed_total\{model="toy"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_excess_requests_are_shed_and_admitted_ones_succeed(server, bus_jpg):
    before = shed_count(server)
    with ThreadPoolExecutor(BURST) as pool:
        answers = list(pool.map(lambda _: slow_predict(server, bus_jpg), range(BURST)))
    ok = [a for a in answers if a.status_code == 200]
    shed = [a for a in answers if a.status_code == 503]
    assert len(ok) == THREADS + QUEUED, [a.status_code for a in answers]
    assert len(shed) == BURST - THREADS - QUEUED, [a.status_code for a in answers]
    for answer in ok:
        assert answer.json()["width"] == 810  # bus.jpg, decoded and answered for real
    for answer in shed:
        assert answer.headers["retry-after"] == "2"
        assert list(answer.json()) == ["error"]
        assert "over capacity (3 requests in progress)" in answer.json()["error"]
    assert shed_count(server) - before == len(shed)
    # Every place was given back: the next request is admitted again.
    with server.client() as client:
        again = client.post("/predict", files={"file": ("bus.jpg", bus_jpg, "image/jpeg")})
    assert again.status_code == 200, again.text


def admitted(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    found = re.search(r'^model_server_inference_admitted\{model="toy"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_v2_infer_is_shed_with_the_same_error_shape(server, bus_jpg):
    body = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
    with ThreadPoolExecutor(THREADS + QUEUED) as pool, server.client() as client:
        holders = [pool.submit(slow_predict, server, bus_jpg) for _ in range(THREADS + QUEUED)]
        while admitted(client) < THREADS + QUEUED and not all(h.done() for h in holders):
            time.sleep(0.02)
        answer = client.post("/v2/models/toy/infer", json=body)
        assert [h.result().status_code for h in holders] == [200] * (THREADS + QUEUED)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "2" and list(answer.json()) == ["error"]


def test_the_default_bound_is_sized_from_the_inference_threads(monkeypatch):
    monkeypatch.setenv("MODEL_NAME", "m")
    monkeypatch.setenv("MODEL_HANDLER", "a:B")
    monkeypatch.setenv("SERVER_INFERENCE_THREADS", "2")
    monkeypatch.delenv("SERVER_MAX_QUEUED", raising=False)
    assert Settings().admitted_requests == 2 + 4
    monkeypatch.setenv("SERVER_MAX_QUEUED", "0")
    assert Settings().admitted_requests == 2
