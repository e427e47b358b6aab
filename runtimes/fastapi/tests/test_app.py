"""Fast in-process checks of the app (FastAPI's TestClient), on top of the real-server tests."""

from __future__ import annotations

import ast
import io
import random
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from runtimes.fastapi.app import create_app
from runtimes.fastapi.errors import HTTP_STATUS, ServerError
from runtimes.fastapi.images import decode_rgb
from runtimes.fastapi.settings import Settings
from tools.paths import REPO_ROOT


@pytest.fixture(scope="module")
def client():
    settings = Settings(
        model_name="plain", model_handler="runtimes.fastapi.tests.toy_models:NoV2", server_grpc_port=0
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        # NoV2 has no weights: load() returns at once, but in the background thread.
        for _ in range(200):
            if client.get("/ready").status_code == 200:
                break
        yield client


def test_a_model_without_v2_answers_501(client):
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}
    answer = client.post("/v2/models/plain/infer", json=body)
    assert answer.status_code == 501 and "does not implement V2" in answer.json()["error"]


def test_a_handler_bug_is_a_500_without_internals(client):
    answer = client.post("/predict", content=b"bug", headers={"content-type": "application/octet-stream"})
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal server error"}
    assert client.post("/predict", content=b"fine", headers={"content-type": "image/png"}).json() == {
        "bytes": 4
    }


def test_metadata_of_a_model_without_tensors(client):
    meta = client.get("/v2/models/plain").json()
    assert meta == {"name": "plain", "versions": ["1"], "platform": "python", "inputs": [], "outputs": []}
    assert client.get("/v2").json()["name"] == "runtimes.fastapi"


def test_openapi_documents_the_upload(client):
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["required"] == ["file"]


def test_the_data_plane_imports_no_web_framework():
    probe = "import sys, runtimes.fastapi.dataplane; print(sorted({m.split('.')[0] for m in sys.modules}))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    loaded = set(ast.literal_eval(result.stdout))
    assert "runtimes" in loaded and not loaded & {"fastapi", "starlette", "uvicorn", "httpx"}


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP", "TIFF", "WEBP", "JPEG", "ICO", "PPM", "TGA"])
def test_mangled_images_only_raise_client_errors(fmt):
    """Random byte flips and truncations of real images: each decodes or is a 4xx, never a crash."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 140, 200)).save(buffer, fmt)
    rng = random.Random(fmt)
    refused = 0
    for _ in range(40):
        data = bytearray(buffer.getvalue())
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(1, len(data))]
        try:
            assert decode_rgb(bytes(data), 5_000_000).ndim == 3
        except ServerError as error:  # anything else fails the test: it would be a 500
            assert HTTP_STATUS[type(error)] in (400, 413, 415)
            refused += 1
    assert refused > 0, "the mangling never produced a bad image: the test checks nothing"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))


def _predict_count(client: TestClient, status: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    wanted = {"route": "/predict", "status": status}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "model_server_requests_total" and sample.labels.items() >= wanted.items():
                return sample.value
    return 0.0


@pytest.mark.parametrize("enabled", [True, False])
def test_request_metrics_can_be_turned_off(enabled):
    """SERVER_REQUEST_METRICS=false (the overhead bench's baseline) stops counting requests."""
    settings = Settings(
        model_name="plain",
        model_handler="runtimes.fastapi.tests.toy_models:NoV2",
        server_request_metrics=enabled,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        before = _predict_count(client, "200")
        png = {"content-type": "image/png"}
        for _ in range(200):  # until the toy model has loaded (503 before)
            if client.post("/predict", content=b"x", headers=png).status_code == 200:
                break
        assert _predict_count(client, "200") - before == (1 if enabled else 0)
