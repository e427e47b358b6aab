"""The real server (uvicorn in a subprocess on a loopback port) serving the toy handler.

Every bad request must get its 4xx with a one-line ``{"error": ...}`` and leave the server
serving; the ``still_serving`` fixture checks that after each test.
"""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path

import httpx
import pytest

from runtimes.fastapi.tests.conftest import TOY_HANDLER
from runtimes.fastapi.tests.server_process import (
    NONROOT_UID,
    ServerProcess,
    can_run_container_like,
    running_server,
)

MAX_UPLOAD = 1_000_000
INFER = "/v2/models/toy/infer"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerProcess:
    tmp = tmp_path_factory.mktemp("toy-server")
    gate = tmp / "gate"
    gate.write_text("open")
    settings = {
        "MODEL_NAME": "toy",
        "MODEL_VERSION": "7",
        "MODEL_HANDLER": TOY_HANDLER,
        "MODEL_PATH": str(gate),
        "SERVER_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "SERVER_MAX_IMAGE_PIXELS": "5000000",
    }
    with running_server(settings, tmp, wait_for="/ready") as server:
        yield server


@pytest.fixture
def client(server: ServerProcess):
    with server.client() as client:
        yield client


@pytest.fixture(autouse=True)
def still_serving(server: ServerProcess, bus_jpg: bytes):
    yield
    assert server.process.poll() is None, server.log()
    with server.client() as client:
        assert client.get("/health").status_code == 200
        answer = client.post("/predict", files={"file": ("bus.jpg", bus_jpg, "image/jpeg")})
        assert answer.status_code == 200, answer.text


def assert_error(response: httpx.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"], body
    assert "Traceback" not in body["error"]
    for fragment in fragments:
        assert fragment in body["error"], body["error"]


def test_predict_multipart_upload(client, bus_jpg):
    answer = client.post("/predict", files={"file": ("bus.jpg", bus_jpg, "image/jpeg")})
    assert answer.status_code == 200
    assert answer.json()["width"] == 810 and answer.json()["height"] == 1080


def test_predict_raw_image_body(client, bus_jpg):
    answer = client.post("/predict", content=bus_jpg, headers={"content-type": "image/jpeg"})
    assert answer.status_code == 200
    assert (answer.json()["width"], answer.json()["height"]) == (810, 1080)


@pytest.mark.parametrize(
    "name",
    [
        "png_with_alpha",
        "grayscale_jpeg",
        "one_pixel_png",
        "exif_rotated_jpeg",
        "palette_gif",
        "sixteen_bit_png",
    ],
)
def test_odd_but_valid_images(client, odd_images, name):
    data, (width, height) = odd_images[name]
    answer = client.post("/predict", files={"file": (name, data, "application/octet-stream")})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["width"], answer.json()["height"]) == (width, height)


def test_alpha_composited_on_gray(client, odd_images):
    # 64x48 transparent red with an opaque green 32x24 centre: a quarter green, the rest gray 114.
    data, _ = odd_images["png_with_alpha"]
    mean = client.post("/predict", files={"file": ("a.png", data)}).json()["mean_rgb"]
    assert mean == pytest.approx([114 * 0.75, 114 * 0.75 + 255 * 0.25, 114 * 0.75], abs=0.5)


def test_not_an_image(client):
    assert_error(
        client.post("/predict", files={"file": ("x.jpg", b"GIF89a? no, plain text", "image/jpeg")}), 415
    )


def test_empty_file(client):
    assert_error(client.post("/predict", files={"file": ("x.jpg", b"", "image/jpeg")}), 400, "empty")


def test_truncated_jpeg(client, bus_jpg):
    truncated = bus_jpg[: len(bus_jpg) // 3]
    assert_error(
        client.post("/predict", files={"file": ("x.jpg", truncated, "image/jpeg")}), 400, "truncated"
    )


def test_upload_over_the_limit_by_content_length(client):
    big = b"\xff" * (MAX_UPLOAD + 1)
    assert_error(client.post("/predict", files={"file": ("x.jpg", big)}), 413, str(MAX_UPLOAD))


def test_upload_over_the_limit_while_streaming(client):
    # Chunked, no Content-Length: the limit must trip while the bytes arrive.
    def chunks():
        for _ in range(2 * MAX_UPLOAD // 65536 + 1):
            yield b"\0" * 65536

    answer = client.post("/predict", content=chunks(), headers={"content-type": "image/jpeg"})
    assert_error(answer, 413, "SERVER_MAX_UPLOAD_BYTES")


def test_decompression_bomb(client, bomb_png):
    assert len(bomb_png) < 100_000
    assert_error(client.post("/predict", files={"file": ("bomb.png", bomb_png)}), 413, "12000x12000")


def test_wrong_request_content_type(client):
    assert_error(client.post("/predict", json={"image": "abc"}), 415, "multipart/form-data")


def test_wrong_part_content_type(client, bus_jpg):
    assert_error(
        client.post("/predict", files={"file": ("bus.txt", bus_jpg, "text/plain")}), 415, "text/plain"
    )


def test_missing_field(client, bus_jpg):
    assert_error(client.post("/predict", files={"image": ("bus.jpg", bus_jpg)}), 422, "'file'")


def test_v2_metadata_and_health(client):
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/v2/models/toy/ready").status_code == 200
    meta = client.get("/v2/models/toy").json()
    assert meta["name"] == "toy" and meta["versions"] == ["7"]
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]


def test_v2_infer(client):
    body = {
        "id": "r1",
        "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [[1, 2, 3], [4, 5, 6]]}],
    }
    answer = client.post(INFER, json=body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["id"] == "r1" and result["model_name"] == "toy" and result["model_version"] == "7"
    outputs = {o["name"]: o for o in result["outputs"]}
    assert outputs["sum"] == {
        "name": "sum",
        "shape": [2],
        "datatype": "FP32",
        "data": [6, 15],
    }
    assert outputs["count"]["data"] == [2] and outputs["count"]["datatype"] == "INT64"


def test_v2_infer_ignores_fields_it_does_not_know(client):
    """KServe's InferenceRESTClient puts model_name in the body; the spec forbids no extra fields."""
    answer = client.post(INFER, json={**tensor(), "model_name": "toy", "surprise": 1})
    assert answer.status_code == 200, answer.text


def test_v2_infer_selected_output(client):
    body = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 1, 1]}]}
    answer = client.post(INFER, json={**body, "outputs": [{"name": "count"}]})
    assert [o["name"] for o in answer.json()["outputs"]] == ["count"]


def tensor(**overrides):
    return {
        "inputs": [
            {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6], **overrides}
        ]
    }


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (tensor(shape=[3, 2]), 400, "does not fit"),
        (tensor(shape=[2, 4]), 400, "does not fit"),
        (tensor(shape=[-2, 3]), 400, "negative"),
        (tensor(shape=[3, 3]), 400, "needs 9 elements"),
        (tensor(datatype="INT32"), 400, "the model takes FP32"),
        (tensor(datatype="FLOAT32"), 400, "datatype"),
        (tensor(data=["a", "b", "c", "d", "e", "f"]), 400, "must be numbers"),
        (tensor(data=[[1, 2, 3], [4, 5]]), 400, "input 'x'"),
        (tensor(name="y"), 400, "unknown input 'y'"),
        ({"inputs": []}, 400, "inputs"),
        ({"inputs": [{"name": "x"}]}, 400, "shape"),
        ({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32"}]}, 400, "neither data"),
        ({**tensor(), "outputs": [{"name": "nope"}]}, 400, "unknown output"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_v2_invalid_tensors(client, body, status, fragment):
    assert_error(client.post(INFER, json=body), status, fragment)


def test_v2_invalid_json(client):
    answer = client.post(INFER, content=b'{"inputs": [', headers={"content-type": "application/json"})
    assert_error(answer, 400, "JSON")


def test_v2_unknown_model(client):
    assert_error(client.post("/v2/models/nope/infer", json=tensor()), 404, "'nope'")
    assert_error(client.get("/v2/models/nope"), 404, "'nope'")
    assert_error(client.get("/v2/models/nope/ready"), 404)


def test_unknown_route_is_json_404(client):
    assert_error(client.get("/no/such/route"), 404)


def test_health_answers_while_inference_runs(server, client, bus_jpg):
    """Inference runs on its own thread, so the event loop still answers /health meanwhile."""
    slow = {}

    def post_slow():
        with server.client() as other:
            slow["answer"] = other.post(
                "/predict", content=b"sleep:3;" + bus_jpg, headers={"content-type": "image/png"}
            )

    worker = threading.Thread(target=post_slow)
    worker.start()
    try:
        server.wait_until("/health")
        in_flight = 0.0
        for _ in range(100):
            metrics = client.get("/metrics").text
            in_flight = float(re.search(r"^model_server_requests_in_flight (\S+)$", metrics, re.M).group(1))
            if in_flight >= 2:  # the slow /predict and this /metrics request
                break
        assert in_flight >= 2, "the slow request never showed as in flight"
        assert client.get("/health").status_code == 200
        assert worker.is_alive(), "the slow request should still be running"
    finally:
        worker.join(30)
    assert slow["answer"].status_code == 200


def test_metrics(client, bus_jpg):
    client.post("/predict", files={"file": ("x.jpg", b"")})
    text = client.get("/metrics").text
    assert 'model_server_requests_total{method="POST",route="/predict",status="200"}' in text
    assert 'model_server_requests_total{method="POST",route="/predict",status="400"}' in text
    assert (
        'model_server_request_duration_seconds_bucket{le="0.1",method="POST",route="/predict",status="200"}'
        in text
    )
    assert re.search(r'^model_server_model_load_seconds\{model="toy",version="7"\} [0-9.e-]+$', text, re.M)
    assert 'model_server_model_ready{model="toy",version="7"} 1.0' in text
    assert 'model_server_inference_duration_seconds_count{model="toy",stage="predict"}' in text
    assert "model_server_requests_in_flight " in text


def gated_settings(gate: Path) -> dict[str, str]:
    return {"MODEL_NAME": "toy", "MODEL_HANDLER": TOY_HANDLER, "MODEL_PATH": str(gate)}


def test_not_ready_until_loaded(tmp_path, bus_jpg):
    gate = tmp_path / "gate"
    with running_server(gated_settings(gate), tmp_path) as gated, gated.client() as client:
        assert client.get("/health").status_code == 200
        assert_error(client.get("/ready"), 503, "still loading")
        assert_error(client.get("/v2/health/ready"), 503)
        assert_error(client.get("/v2/models/toy/ready"), 503)
        assert_error(client.post("/predict", files={"file": ("bus.jpg", bus_jpg)}), 503, "not ready")
        assert_error(client.post("/v2/models/toy/infer", json=tensor()), 503, "not ready")
        gate.write_text("open")
        gated.wait_until("/ready")
        assert client.post("/predict", files={"file": ("bus.jpg", bus_jpg)}).status_code == 200


def test_failed_load_is_reported_and_unhealthy(tmp_path):
    gate = tmp_path / "gate"
    gate.write_text("fail")
    with running_server(gated_settings(gate), tmp_path, wait_for=None) as failed, failed.client() as client:
        failed.wait_until("/ready", status=503)
        failed.wait_until("/health", status=503)
        assert_error(client.get("/ready"), 503, "failed to load: RuntimeError: the gate file says fail")
        assert_error(client.get("/health"), 503, "failed to load")


def test_sigterm_lets_the_in_flight_request_finish(tmp_path, bus_jpg):
    gate = tmp_path / "gate"
    gate.write_text("open")
    with running_server(gated_settings(gate), tmp_path, wait_for="/ready") as server:
        slow = {}

        def post_slow():
            with server.client() as client:
                body = b"sleep:2;" + bus_jpg
                slow["answer"] = client.post("/predict", content=body, headers={"content-type": "image/jpeg"})

        worker = threading.Thread(target=post_slow)
        worker.start()
        with server.client() as client:
            for _ in range(200):
                if "model_server_requests_in_flight 2.0" in client.get("/metrics").text:
                    break
        assert server.stop() == 0, server.log()
        worker.join(30)
        assert slow["answer"].status_code == 200
        assert "Shutting down" in server.log()


@pytest.mark.container
@pytest.mark.skipif(
    not can_run_container_like(), reason="a read-only mount namespace needs root (CAP_SYS_ADMIN)"
)
def test_serves_as_nonroot_on_a_readonly_root(tmp_path, bus_jpg):
    # /etc/hostname: a gate that exists and is readable outside /tmp (a fresh tmpfs there).
    settings = {**gated_settings(Path("/etc/hostname")), "SERVER_MAX_UPLOAD_BYTES": str(8 * MAX_UPLOAD)}
    with running_server(settings, tmp_path, wait_for="/ready", container_like=True) as server:
        status = Path(f"/proc/{server.process.pid}/status").read_text()
        assert re.search(rf"^Uid:\s+{NONROOT_UID}\s", status, re.M), status
        # Over Starlette's 1 MiB in-memory threshold, so the upload is spooled to /tmp.
        padded = bus_jpg + b"\0" * (2 * MAX_UPLOAD)
        with server.client() as client:
            answer = client.post("/predict", files={"file": ("bus.jpg", padded, "image/jpeg")})
        assert answer.status_code == 200, answer.text + server.log()
    assert "Read-only file system" not in server.log()


def test_several_workers(tmp_path, bus_jpg):
    gate = tmp_path / "gate"
    gate.write_text("open")
    with running_server(
        {**gated_settings(gate), "SERVER_WORKERS": "2"}, tmp_path, wait_for="/ready"
    ) as server:
        with server.client() as client:
            for _ in range(4):
                assert client.post("/predict", files={"file": ("bus.jpg", bus_jpg)}).status_code == 200
        assert server.stop() == 0, server.log()
    assert server.log().count("Application startup complete") == 2


def test_bad_environment_exits_with_one_line(tmp_path):
    # The other ways the environment can be wrong are in test_settings.py, in-process.
    settings = {"MODEL_NAME": "toy", "MODEL_HANDLER": "no.such.module:Model"}
    with running_server(settings, tmp_path, wait_for=None) as broken:
        assert broken.process.wait(30) == 2
        assert "error: MODEL_HANDLER=no.such.module:Model: cannot import 'no.such.module'" in broken.log()
        assert "Traceback" not in broken.log()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
