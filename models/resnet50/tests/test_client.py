"""The REST client's request building and response parsing (fast path: no tensorflow, no network).

The tensorflow half (test_export.py) feeds the same request to the real exported signature.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.resnet50 import artifacts
from models.resnet50.client import (
    INPUT,
    MAX_BATCH,
    NUM_CLASSES,
    SIGNATURE,
    TopClass,
    build_request,
    load_image,
    main,
    parse_response,
    read_labels,
    signature_problems,
)
from runtimes.tfserving.rest import available_versions, metadata_url, predict_url, status_url
from tools.errors import UserError


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def bus_jpg() -> Path:
    """A real photo (810x1080 JPEG) that ultralytics ships in the dev venv."""
    spec = importlib.util.find_spec("ultralytics")
    assert spec is not None, "ultralytics belongs in .venvs/dev (requirements_tools.in): run ./dev setup"
    path = Path(spec.submodule_search_locations[0]) / "assets" / "bus.jpg"
    assert path.is_file(), f"{path} is missing from the ultralytics install"
    return path


def test_request_from_a_real_photo_matches_the_signature(bus_jpg):
    body = build_request([bus_jpg, bus_jpg])
    assert body["signature_name"] == SIGNATURE
    assert len(body["instances"]) == 2
    (name,) = body["instances"][0]
    assert name == INPUT
    pixels = np.asarray(body["instances"][0][INPUT])
    assert pixels.shape == (224, 224, 3)
    assert pixels.dtype.kind == "i" and pixels.min() >= 0 and pixels.max() <= 255
    # A real photo, not a blank: the crop has detail in every channel.
    assert all(pixels[..., c].std() > 10 for c in range(3))


def test_centre_crop_keeps_the_middle_of_a_wide_image(tmp_path):
    # 600x300: red columns 0-150, green 150-450, blue 450-600. Shorter side -> 256 makes it 512x256
    # (green at 128-384); the centre crop takes columns 144-368, all green.
    image = np.zeros((300, 600, 3), np.uint8)
    image[:, :150, 0] = 255
    image[:, 150:450, 1] = 255
    image[:, 450:, 2] = 255
    path = tmp_path / "wide.png"
    Image.fromarray(image).save(path)
    crop = load_image(path)
    assert crop.shape == (224, 224, 3)
    assert crop[..., 1].min() > 200 and crop[..., 0].max() < 60 and crop[..., 2].max() < 60


def test_exif_orientation_is_applied(tmp_path):
    # Stored 400x200 (top half white); EXIF orientation 6 means "rotate 90 degrees clockwise to
    # display", so upright it is 200x400 with the white half on the right.
    stored = np.zeros((200, 400, 3), np.uint8)
    stored[:100] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    crop = load_image(path)
    assert crop[:, -20:].mean() > 200 and crop[:, :20].mean() < 50


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "image file not found"), (b"not a picture", "not an image Pillow can read")],
)
def test_bad_image_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "input.jpg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message) as caught:
        build_request([path])
    assert caught.value.file == str(path)


def test_truncated_and_oversized_images_are_user_errors(tmp_path, bus_jpg, monkeypatch):
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(bus_jpg.read_bytes()[:5000])
    with pytest.raises(UserError, match="not an image Pillow can read") as caught:
        load_image(truncated)
    assert caught.value.file == str(truncated)
    # Pillow refuses images over twice MAX_IMAGE_PIXELS (decompression bombs); lower the limit.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    with pytest.raises(UserError, match="too many pixels"):
        load_image(bus_jpg)


def test_any_pixel_mode_becomes_rgb_uint8(tmp_path):
    for name, image in {
        "gray16.png": Image.fromarray(np.arange(300 * 400, dtype=np.uint16).reshape(300, 400)),
        "rgba.png": Image.fromarray(np.full((300, 400, 4), 128, np.uint8)),
        "palette.gif": Image.new("P", (300, 400)),
    }.items():
        image.save(tmp_path / name)
        pixels = load_image(tmp_path / name)
        assert (pixels.shape, pixels.dtype) == ((224, 224, 3), np.uint8), name


def test_batch_limits(bus_jpg):
    with pytest.raises(UserError, match="at least one image"):
        build_request([])
    with pytest.raises(UserError, match=f"at most {MAX_BATCH}"):
        build_request([bus_jpg] * (MAX_BATCH + 1))


def _scores(best: int, second: int) -> list[float]:
    scores = np.full(NUM_CLASSES, 0.1 / (NUM_CLASSES - 2))
    scores[best], scores[second] = 0.6, 0.3
    return scores.tolist()


def test_parse_both_prediction_shapes_to_top_k():
    labels = [f"class {i}" for i in range(NUM_CLASSES)]
    # One output tensor: TF Serving sends the values; several: a dict per image.
    body = {"predictions": [_scores(7, 3), {"probabilities": _scores(999, 0), "other": [1]}]}
    first, second = parse_response(body, k=2, labels=labels)
    assert first == [TopClass(7, 0.6, "class 7"), TopClass(3, 0.3, "class 3")]
    assert [entry.index for entry in second] == [999, 0]
    assert parse_response(body, k=1)[0] == [TopClass(7, 0.6, None)]


@pytest.mark.parametrize(
    ("body", "kwargs", "message"),
    [
        ({"error": "Failed to process element: 0 of 'instances' list."}, {}, "refused the request: Failed"),
        ({"outputs": []}, {}, "no 'predictions' list"),
        ("<html>502</html>", {}, "not a TF Serving predict answer"),
        ({"predictions": [[0.5, 0.5]]}, {}, "got shape \\(2,\\)"),
        ({"predictions": [{"logits": [0.1] * NUM_CLASSES}]}, {}, "got shape \\(\\)"),
        ({"predictions": [["a"] * NUM_CLASSES]}, {}, "got shape"),
        ({"predictions": []}, {"k": 0}, "k must be between"),
        ({"predictions": []}, {"labels": ["x"]}, "expected 1000 labels"),
    ],
)
def test_bad_answers_are_user_errors(body, kwargs, message):
    with pytest.raises(UserError, match=message):
        parse_response(body, **kwargs)


def test_labels_file(tmp_path):
    good = tmp_path / "labels.txt"
    good.write_text("".join(f"n{i:08d} thing {i}\n" for i in range(NUM_CLASSES)))
    assert read_labels(good)[999] == "n00000999 thing 999"
    short = tmp_path / "short.txt"
    short.write_text("only one\n")
    with pytest.raises(UserError, match="expected 1000 non-empty lines") as caught:
        read_labels(short)
    assert caught.value.file == str(short)
    with pytest.raises(UserError, match="cannot read labels"):
        read_labels(tmp_path / "missing.txt")


def test_cli_reports_an_unreachable_server_as_one_line(bus_jpg, closed_port, capsys):
    # Nothing listens on this loopback port: the CLI must say so, not print a traceback.
    code = main([str(bus_jpg), "--url", f"http://127.0.0.1:{closed_port}", "--top-k", "3"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach TF Serving at http://127.0.0.1:") and err.count("\n") == 1


def test_rest_urls_and_model_status():
    assert status_url("http://h:8501/", "resnet50") == "http://h:8501/v1/models/resnet50"
    assert predict_url("http://h:8501", "resnet50") == "http://h:8501/v1/models/resnet50:predict"
    assert metadata_url("http://h:8501", "resnet50") == "http://h:8501/v1/models/resnet50/metadata"
    loading = {"model_version_status": [{"version": "1", "state": "LOADING", "status": {"error_code": "OK"}}]}
    assert available_versions(loading) == []
    ready = {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
            {"version": "1", "state": "END", "status": {"error_code": "OK", "error_message": ""}},
        ]
    }
    assert available_versions(ready) == [2]
    with pytest.raises(UserError, match="not a TF Serving model status"):
        available_versions({"error": "Could not find any versions of model resnet50"})


def test_weights_env_must_name_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv(artifacts.WEIGHTS_ENV, str(tmp_path / "nope.h5"))
    with pytest.raises(UserError, match="is not a file") as caught:
        artifacts.weights_file()
    assert caught.value.field == "RESNET50_WEIGHTS"
    monkeypatch.setenv(artifacts.WEIGHTS_ENV, "")
    assert artifacts.weights_file() is None


# What GET /v1/models/resnet50/metadata answers for the real export; test_export.py regenerates it
# from the SavedModel with TF Serving's own JSON options and fails if it drifts.
GOLDEN_METADATA = Path(__file__).parent / "testdata" / "metadata.json"


def _serving_default(answer: dict) -> dict:
    return answer["metadata"]["signature_def"]["signature_def"][SIGNATURE]


def test_the_exported_signature_matches_the_client():
    assert signature_problems(json.loads(GOLDEN_METADATA.read_text())) == []


def _mutated(change) -> dict:
    answer = copy.deepcopy(json.loads(GOLDEN_METADATA.read_text()))
    change(_serving_default(answer))
    return answer


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda sig: sig["inputs"]["images"].update(dtype="DT_FLOAT"), "inputs.images: dtype DT_FLOAT"),
        (
            lambda sig: sig["inputs"]["images"]["tensor_shape"]["dim"][1].update(size="299"),
            "shape [-1, 299, 224, 3]",
        ),
        (lambda sig: sig["inputs"].update(mask={"dtype": "DT_BOOL"}), "the signature also needs ['mask']"),
        (lambda sig: sig["outputs"].pop("probabilities"), "outputs: no 'probabilities'"),
        (lambda sig: sig["inputs"].update(pixels=sig["inputs"].pop("images")), "inputs: no 'images'"),
    ],
)
def test_signature_drift_is_named(change, problem):
    problems = signature_problems(_mutated(change))
    assert any(problem in p for p in problems), problems


def test_metadata_without_the_signature():
    assert signature_problems({"error": "Servable not found"}) == [
        "the model metadata has no 'serving_default' signature"
    ]


def test_predict_once_needs_an_image(closed_port):
    from models.resnet50.client import predict_once

    with pytest.raises(UserError, match="resnet50 needs --input IMAGE"):
        predict_once(f"http://127.0.0.1:{closed_port}", None)
