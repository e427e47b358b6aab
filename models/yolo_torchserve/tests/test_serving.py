"""yolo.mar on the real TorchServe 0.12 (Java 17, the launcher, no torch in the worker).

Inference agrees with the fastapi runtime's real server on bus.jpg; management registers and scales;
metrics parse as Prometheus text; bad uploads get a 4xx with a message and the server keeps serving.
"""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from runtimes.fastapi.tests.server_process import running_server

JPEG = {"Content-Type": "image/jpeg"}


def predict(server, body: bytes, model: str = "yolo", headers=JPEG) -> httpx.Response:
    return httpx.post(
        f"{server.url('inference')}/predictions/{model}", content=body, headers=headers, timeout=60
    )


def iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def test_bus_jpg_gives_the_same_detections_as_the_fastapi_runtime(torchserve, weights, bus_jpg, log_dir):
    served = predict(torchserve, bus_jpg)
    assert served.status_code == 200, served.text
    ours = served.json()
    settings = {
        "MODEL_NAME": "yolo",
        "MODEL_HANDLER": "models.yolo.handler:YOLOModelHandler",
        "MODEL_PATH": str(weights / "model.onnx"),
    }
    with (
        running_server(settings, log_dir, wait_for="/ready") as fastapi_server,
        fastapi_server.client() as client,
    ):
        reference = client.post("/predict", files={"file": ("bus.jpg", bus_jpg, "image/jpeg")}).json()
    assert (ours["image_width"], ours["image_height"]) == (810, 1080)
    assert len(ours["detections"]) == len(reference["detections"]) >= 4  # the people on the bus
    for theirs in reference["detections"]:
        best = max(ours["detections"], key=lambda d: iou(d["box"], theirs["box"]))
        assert best["class_name"] == theirs["class_name"]
        assert iou(best["box"], theirs["box"]) >= 0.85
        assert best["confidence"] == pytest.approx(theirs["confidence"], abs=0.01)


def test_multipart_field_data_is_an_image_too(torchserve, bus_jpg):
    response = httpx.post(
        f"{torchserve.url('inference')}/predictions/yolo",
        files={"data": ("bus.jpg", bus_jpg, "image/jpeg")},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["detections"]) >= 4


def test_management_registers_a_second_copy_and_scales_workers(torchserve, bus_jpg):
    management = httpx.Client(base_url=torchserve.url("management"), timeout=120)
    registered = management.post(
        "/models",
        params={"url": "yolo.mar", "model_name": "yolo2", "initial_workers": 1, "synchronous": "true"},
    )
    assert registered.status_code == 200, registered.text
    try:
        assert predict(torchserve, bus_jpg, model="yolo2").status_code == 200
        scaled = management.put(
            "/models/yolo2", params={"min_worker": 2, "max_worker": 2, "synchronous": "true"}
        )
        assert scaled.status_code == 200, scaled.text
        assert torchserve.workers_ready("yolo2") == 2
        assert predict(torchserve, bus_jpg, model="yolo2").status_code == 200
    finally:
        assert management.delete("/models/yolo2").status_code == 200
    assert management.get("/models/yolo2").status_code == 404
    assert [m["modelName"] for m in management.get("/models").json()["models"]] == ["yolo"]


def test_metrics_are_prometheus_text_counting_inference_requests(torchserve, bus_jpg):
    def served() -> float:
        text = httpx.get(f"{torchserve.url('metrics')}/metrics", timeout=10).text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        samples = families["ts_inference_requests"].samples  # the client strips the _total suffix
        return sum(
            s.value for s in samples if s.labels.get("model_name") == "yolo" and s.name.endswith("_total")
        )

    before = served()
    for _ in range(2):
        assert predict(torchserve, bus_jpg).status_code == 200
    assert served() == before + 2


def _truncated(bus_jpg: bytes) -> bytes:
    return bus_jpg[: len(bus_jpg) // 3]


def _huge_png() -> bytes:
    # A real image over TorchServe's max_request_size (6553500 bytes): noise does not compress.
    pixels = np.random.default_rng(0).integers(0, 255, (1600, 1600, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=0)
    return out.getvalue()


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("not an image", 415, "not an image"),
        ("truncated jpeg", 400, "truncated"),
        ("empty body", 400, "empty"),
        ("too many pixels", 413, "pixel limit"),
        ("over the request size", 413, None),
        ("form fields, no file", 400, "request body"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message_and_the_server_keeps_serving(
    torchserve, bus_jpg, bomb_png, case, status, message
):
    body, headers = {
        "not an image": (b"%PDF-1.4 definitely not a picture", JPEG),
        "truncated jpeg": (_truncated(bus_jpg), JPEG),
        "empty body": (b"", {"Content-Type": "application/octet-stream"}),
        "too many pixels": (bomb_png, {"Content-Type": "image/png"}),
        "over the request size": (_huge_png(), {"Content-Type": "image/png"}),
        "form fields, no file": (b"a=1&b=2", {"Content-Type": "application/x-www-form-urlencoded"}),
    }[case]
    response = predict(torchserve, body, headers=headers)
    assert response.status_code == status, response.text
    if message:
        assert message in response.json()["error"]
    assert "Traceback" not in response.text
    after = predict(torchserve, bus_jpg)
    assert after.status_code == 200 and len(after.json()["detections"]) >= 4


def test_servectl_predict_speaks_to_torchserve(torchserve):
    from models.yolo_torchserve.client import predict_once  # what `servectl predict` calls

    text = predict_once(torchserve.url("inference"), None)
    assert text.startswith("yolo v1: ") and "Normal" in text
    assert int(text.split(": ")[1].split()[0]) >= 4  # "yolo v1: 4 detections in bus.jpg ..."
