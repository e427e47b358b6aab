"""What `apply --canary` reads from this runtime (tools/deploy/canary.py): the app's own /metrics,
counted by this runtime's observability.yaml, see a handler bug as errors and leave probes out."""

from __future__ import annotations

from fastapi.testclient import TestClient

from runtimes.fastapi.app import create_app
from runtimes.fastapi.settings import Settings
from tools.deploy.canary import breach, counts
from tools.k8s.schema.catalog import Catalog
from tools.k8s.schema.environments import CanaryPolicy

OCTETS = {"content-type": "application/octet-stream"}


def test_the_canary_counts_this_servers_answers_as_its_alerts_do():
    vocabulary = Catalog().runtime_metrics("fastapi")
    settings = Settings(
        model_name="plain", model_handler="runtimes.fastapi.tests.toy_models:NoV2", server_grpc_port=0
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        while client.get("/ready").status_code != 200:  # NoV2 loads at once, in the background
            pass
        before = counts(client.get("/metrics").text, vocabulary)
        for _ in range(6):
            assert client.post("/predict", content=b"fine", headers=OCTETS).status_code == 200
        for _ in range(2):
            assert client.post("/predict", content=b"bug", headers=OCTETS).status_code == 500
        client.get("/ready")
        window = counts(client.get("/metrics").text, vocabulary) - before
    assert (window.requests, window.errors) == (8, 2)
    policy = CanaryPolicy(windowSeconds=10, maxErrorRatio=0.1, minRequests=5)
    assert breach(window, policy, final=True) == (
        "maxErrorRatio 0.1 breached: 0.250 (2 of 8 requests were errors)"
    )
