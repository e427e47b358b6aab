"""YOLOModelHandler in-process on the real trained weights: content, backends agreeing, odd images.

Slow: loads torch and ultralytics for the .pt backend and the reference predictions.
"""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

from models.yolo.handler import YOLOModelHandler
from runtimes.fastapi.tests.conftest import encode

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served_handler(weights):
    """What the image serves: the OpenVINO IR."""
    handler = YOLOModelHandler(weights / "model.xml", name="yolo", version="1")
    handler.load()
    return handler


@pytest.fixture(scope="module")
def onnx_handler(weights):
    handler = YOLOModelHandler(weights / "model.onnx", name="yolo", version="1")
    handler.load()
    return handler


@pytest.fixture(scope="module")
def torch_handler(weights):
    handler = YOLOModelHandler(weights / "model.pt", name="yolo", version="1")
    handler.load()
    return handler


def detect(handler, data: bytes):
    response, _ = handler(data)
    return response


def iou(a, b) -> float:
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def match(found, expected, min_iou):
    """Pairs each expected box with the best-overlapping found box of the same class."""
    assert len(found) == len(expected), (found, expected)
    for box, class_id in expected:
        best = max(((iou(box, d.box), d) for d in found if d.class_id == class_id), key=lambda t: t[0])
        assert best[0] >= min_iou, (box, best)


def test_bus_finds_the_people_standing(served_handler, bus_jpg):
    response = detect(served_handler, bus_jpg)
    assert (response.model_name, response.model_version) == ("yolo", "1")
    assert (response.image_width, response.image_height) == (810, 1080)
    assert response.inference_ms > 0
    # About four people, all upright (class Normal, boxes taller than wide), none fallen.
    assert 3 <= len(response.detections) <= 5
    for found in response.detections:
        x1, y1, x2, y2 = found.box
        assert found.class_name == "Normal" and found.class_id == 0
        assert 0 <= x1 < x2 <= 810 and 0 <= y1 < y2 <= 1080
        assert (y2 - y1) > 2 * (x2 - x1)
        assert 0.25 < found.confidence <= 1


def test_onnx_and_torch_backends_agree(onnx_handler, torch_handler, bus_jpg, zidane_jpg):
    for image in (bus_jpg, zidane_jpg):
        from_onnx, from_torch = detect(onnx_handler, image), detect(torch_handler, image)
        assert len(from_onnx.detections) == len(from_torch.detections) > 0
        for a, b in zip(from_onnx.detections, from_torch.detections, strict=True):
            assert a.class_id == b.class_id
            assert a.confidence == pytest.approx(b.confidence, abs=0.01)
            assert np.allclose(a.box, b.box, atol=2.0), (a.box, b.box)


@pytest.mark.parametrize("backend", ["served_handler", "onnx_handler", "torch_handler"])
def test_matches_ultralytics_own_predict(request, backend, weights, bus_jpg, zidane_jpg):
    """Each backend against ultralytics' predict with its defaults (imgsz 640, rectangular input)."""
    from ultralytics import YOLO

    handler = request.getfixturevalue(backend)
    model = YOLO(str(weights / "model.pt"))
    for image in (bus_jpg, zidane_jpg):
        reference = model.predict(Image.open(io.BytesIO(image)), imgsz=640, verbose=False)[0]
        expected = list(zip(reference.boxes.xyxy.tolist(), reference.boxes.cls.int().tolist(), strict=True))
        # Pillow's antialiased resize vs OpenCV's bilinear moves boxes a few pixels, not more.
        match(detect(handler, image).detections, expected, min_iou=0.85)


def test_exif_rotated_photo_is_seen_upright(served_handler, bus_jpg):
    upright = detect(served_handler, bus_jpg)
    # Stored rotated 90 degrees counter-clockwise, tagged "display rotated 90 clockwise" (6).
    stored = Image.open(io.BytesIO(bus_jpg)).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = detect(served_handler, encode(stored, "PNG", exif=exif))
    assert (rotated.image_width, rotated.image_height) == (810, 1080)
    match(rotated.detections, [(d.box, d.class_id) for d in upright.detections], min_iou=0.9)


def test_grayscale_photo_still_finds_people(served_handler, bus_jpg):
    gray = encode(Image.open(io.BytesIO(bus_jpg)).convert("L"), "PNG")
    response = detect(served_handler, gray)
    assert len([d for d in response.detections if d.class_name == "Normal"]) >= 3


@pytest.mark.parametrize("name", ["png_with_alpha", "one_pixel_png", "sixteen_bit_png", "palette_gif"])
def test_odd_images_give_valid_answers(served_handler, odd_images, name):
    data, (width, height) = odd_images[name]
    response = detect(served_handler, data)
    assert (response.image_width, response.image_height) == (width, height)
    for found in response.detections:
        assert 0 <= found.box[0] <= found.box[2] <= width and 0 <= found.box[1] <= found.box[3] <= height


def test_v2_tensors_match_predict(served_handler, bus_small_png):
    rgb = np.asarray(Image.open(io.BytesIO(bus_small_png)).convert("RGB"))
    outputs = served_handler.infer_tensors({"image": rgb})
    response = detect(served_handler, bus_small_png)
    assert outputs["boxes"].shape == (len(response.detections), 4)
    assert outputs["class_ids"].tolist() == [d.class_id for d in response.detections]
    assert np.allclose(outputs["boxes"], [d.box for d in response.detections], atol=0.06)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
