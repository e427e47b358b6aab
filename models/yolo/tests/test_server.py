"""yolo served for real: ``python -m runtimes.fastapi`` on the ONNX weights, over loopback HTTP.

Run the way the image runs it where this machine allows (uid 65532, read-only root, only /tmp
writable). Each bad request must get its 4xx ``{"error": ...}`` and leave the server serving.
"""

from __future__ import annotations

import io
import re
import sys

import numpy as np
import pytest
from PIL import Image

from runtimes.fastapi.tests.server_process import ServerProcess, can_run_container_like, running_server

pytestmark = [pytest.mark.slow, pytest.mark.container]

MAX_UPLOAD = 3_000_000  # room for bus.jpg and a 405x540 V2 tensor as JSON, not for much more
INFER = "/v2/models/yolo/infer"


@pytest.fixture(scope="module")
def server(weights, tmp_path_factory) -> ServerProcess:
    settings = {
        "MODEL_NAME": "yolo",
        "MODEL_VERSION": "1",
        "MODEL_HANDLER": "models.yolo.handler:YOLOModelHandler",
        "MODEL_PATH": str(weights / "model.xml"),
        "SERVER_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
    }
    log_dir = tmp_path_factory.mktemp("yolo-server")
    # Where root is not available the same server runs as the current user (the runtime's own
    # tests cover that case's skip reason).
    with running_server(
        settings, log_dir, wait_for="/ready", container_like=can_run_container_like()
    ) as server:
        yield server


@pytest.fixture
def client(server):
    with server.client() as client:
        yield client


@pytest.fixture(autouse=True)
def still_serving(server, bus_jpg):
    yield
    assert server.process.poll() is None, server.log()
    with server.client() as client:
        answer = client.post("/predict", files={"file": ("bus.jpg", bus_jpg, "image/jpeg")})
        assert answer.status_code == 200 and len(answer.json()["detections"]) >= 3, answer.text


def assert_error(response, status: int, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    assert list(response.json()) == ["error"] and fragment in response.json()["error"], response.text


def test_bus(client, bus_jpg):
    answer = client.post("/predict", files={"file": ("bus.jpg", bus_jpg, "image/jpeg")})
    assert answer.status_code == 200
    result = answer.json()
    assert (result["model_name"], result["model_version"]) == ("yolo", "1")
    assert (result["image_width"], result["image_height"]) == (810, 1080) and result["inference_ms"] > 0
    assert 3 <= len(result["detections"]) <= 5
    for found in result["detections"]:
        assert set(found) == {"class_id", "class_name", "confidence", "box"}
        assert (found["class_id"], found["class_name"]) == (0, "Normal") and 0.25 < found["confidence"] <= 1
        x1, y1, x2, y2 = found["box"]
        assert 0 <= x1 < x2 <= 810 and 0 <= y1 < y2 <= 1080


def test_zidane(client, zidane_jpg):
    result = client.post("/predict", files={"file": ("zidane.jpg", zidane_jpg, "image/jpeg")}).json()
    assert (result["image_width"], result["image_height"]) == (1280, 720)
    assert len([d for d in result["detections"] if d["class_name"] == "Normal"]) >= 2


@pytest.mark.parametrize("name", ["png_with_alpha", "grayscale_jpeg", "one_pixel_png", "exif_rotated_jpeg"])
def test_odd_but_valid_images(client, odd_images, name):
    data, (width, height) = odd_images[name]
    answer = client.post("/predict", files={"file": (name, data)})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["image_width"], answer.json()["image_height"]) == (width, height)


def test_not_an_image(client):
    assert_error(
        client.post("/predict", files={"file": ("a.jpg", b"just text, no pixels")}), 415, "not an image"
    )


def test_empty_file(client):
    assert_error(client.post("/predict", files={"file": ("a.jpg", b"")}), 400, "empty")


def test_truncated_jpeg(client, bus_jpg):
    assert_error(client.post("/predict", files={"file": ("a.jpg", bus_jpg[:20_000])}), 400, "truncated")


def test_over_the_upload_limit(client):
    assert_error(client.post("/predict", files={"file": ("a.jpg", b"\xff" * (MAX_UPLOAD + 1))}), 413, "limit")


def test_decompression_bomb(client, bomb_png):
    assert_error(client.post("/predict", files={"file": ("bomb.png", bomb_png)}), 413, "pixel limit")


def test_wrong_content_type(client, bus_jpg):
    assert_error(client.post("/predict", content=b"hello", headers={"content-type": "text/plain"}), 415)
    assert_error(client.post("/predict", files={"file": ("bus.jpg", bus_jpg, "application/pdf")}), 415)


def test_missing_field(client, bus_jpg):
    assert_error(client.post("/predict", files={"upload": ("bus.jpg", bus_jpg)}), 422, "'file'")


def image_tensor(rgb: np.ndarray, **overrides) -> dict:
    tensor = {
        "name": "image",
        "shape": list(rgb.shape),
        "datatype": "UINT8",
        "data": rgb.reshape(-1).tolist(),
    }
    return {"inputs": [{**tensor, **overrides}]}


def test_v2_metadata(client):
    meta = client.get("/v2/models/yolo").json()
    assert meta["platform"] == "openvino"
    assert meta["inputs"] == [{"name": "image", "datatype": "UINT8", "shape": [-1, -1, 3]}]
    assert [o["name"] for o in meta["outputs"]] == ["boxes", "scores", "class_ids"]
    assert client.get("/v2/models/yolo/ready").status_code == 200


def test_v2_infer_agrees_with_predict(client, bus_small_png):
    rgb = np.asarray(Image.open(io.BytesIO(bus_small_png)).convert("RGB"))
    answer = client.post(INFER, json=image_tensor(rgb))
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o for o in answer.json()["outputs"]}
    count = outputs["scores"]["shape"][0]
    assert outputs["boxes"]["shape"] == [count, 4] and outputs["class_ids"]["shape"] == [count]
    predicted = client.post("/predict", files={"file": ("bus.png", bus_small_png)}).json()["detections"]
    assert outputs["class_ids"]["data"] == [d["class_id"] for d in predicted]
    boxes = np.asarray(outputs["boxes"]["data"]).reshape(-1, 4)
    assert np.allclose(boxes, [d["box"] for d in predicted], atol=0.06)


@pytest.mark.parametrize(
    ("overrides", "status", "fragment"),
    [
        ({"shape": [540, 405]}, 400, "does not fit"),
        ({"shape": [540, 405, 4]}, 400, "does not fit"),
        ({"datatype": "FP32"}, 400, "the model takes UINT8"),
        ({"datatype": "UINT9"}, 400, "datatype"),
        ({"data": [300] * 12}, 400, "[0, 255]"),
        ({"name": "images"}, 400, "unknown input"),
    ],
)
def test_v2_invalid_tensors(client, overrides, status, fragment):
    rgb = np.zeros((2, 2, 3), np.uint8)
    assert_error(client.post(INFER, json=image_tensor(rgb, **overrides)), status, fragment)


def test_v2_empty_image(client):
    assert_error(client.post(INFER, json=image_tensor(np.zeros((0, 4, 3), np.uint8))), 400, "no pixels")


def test_v2_unknown_model(client):
    assert_error(
        client.post("/v2/models/resnet50/infer", json=image_tensor(np.zeros((2, 2, 3), np.uint8))), 404
    )


def test_v2_invalid_json(client):
    assert_error(client.post(INFER, content=b"{not json", headers={"content-type": "application/json"}), 400)


def test_metrics(client):
    text = client.get("/metrics").text
    assert re.search(r'^model_server_model_load_seconds\{model="yolo",version="1"\} [0-9.e-]+$', text, re.M)
    assert 'model_server_inference_duration_seconds_count{model="yolo",stage="predict"}' in text
    assert 'model_server_requests_total{method="POST",route="/predict",status="200"}' in text


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))


def test_the_model_client_prints_the_detections(server, tmp_path):
    """The model client contract (model.yaml `client`): bus.jpg by default, errors as UserError."""
    import json

    from models.yolo.client import predict_once
    from tools.errors import UserError

    text = predict_once(server.base_url, None)
    header, *detections = text.splitlines()
    assert header.startswith("yolo v1: ") and "in bus.jpg" in header
    assert len(detections) >= 3 and all(" box [" in line for line in detections)  # the people
    assert len(json.loads(predict_once(server.base_url, None, raw=True))["detections"]) >= 3
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_bytes(b"not an image")
    with pytest.raises(UserError, match="answered 4"):
        predict_once(server.base_url, str(not_an_image))
    with pytest.raises(UserError, match="cannot read the input"):
        predict_once(server.base_url, str(tmp_path / "missing.jpg"))
