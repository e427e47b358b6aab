"""The yolo model variants the latency benchmark compares, built once from the weights artifact.

Cached under ``.build/bench/yolo-levers/<sha of model.onnx>/``: ``int8.onnx``, onnxruntime's
static QDQ quantisation of the artifact's (dynamic-shape) ONNX export: per-channel int8 weights,
uint8 activations, calibrated on ultralytics' two sample images; the Detect head's box decoding
stays in float because box regression is what IoU measures.
"""

from __future__ import annotations

import json
from pathlib import Path

from tools.hashing import file_sha256
from tools.paths import build_dir


def variants_dir(weights: Path) -> Path:
    out = build_dir() / "bench" / "yolo-levers" / file_sha256(weights / "model.onnx")[:16]
    out.mkdir(parents=True, exist_ok=True)
    return out


def int8_onnx(weights: Path, calibration: list) -> Path:
    """Static QDQ int8 of the dynamic export; ``calibration`` holds letterboxed input tensors."""
    out = variants_dir(weights) / "int8.onnx"
    if out.exists():
        return out
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = weights / "model.onnx"
    prepared = out.with_suffix(".pre.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"images": tensor} for tensor in calibration])

        def get_next(self):
            return next(self.items, None)

    graph = onnx.load(str(prepared)).graph
    # The head's last layers (the DFL box decoding and the class sigmoid after the final convs).
    keep_float = [n.name for n in graph.node if "/model.22/" in n.name and "/cv" not in n.name]
    quantize_static(
        str(prepared),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=keep_float,
    )
    prepared.unlink()
    (out.parent / "int8.json").write_text(json.dumps({"float_nodes": len(keep_float)}))
    return out


def package_bytes(module: str) -> int:
    """Installed size of a top-level package and its bundled libraries (what an image would carry)."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return 0
    root = Path(spec.submodule_search_locations[0])
    total = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    libs = root.parent / f"{module}.libs"
    if libs.is_dir():
        total += sum(f.stat().st_size for f in libs.rglob("*") if f.is_file())
    return total
