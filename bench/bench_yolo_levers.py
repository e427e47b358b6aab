"""yolo: stock ultralytics predict vs our HTTP /predict, and the latency levers against each other.

    .venvs/dev/bin/python bench/bench_yolo_levers.py [--runs 50] [--image bus.jpg]

One process, one run, everything warm and interleaved call by call (every option once per round, in
a seeded random order), so all see the same machine load. Stock is ``YOLO("model.pt").predict(path)``
with ultralytics' defaults (imgsz 640, rectangular letterbox, its own torch threads). Options run
our handler in-process on one lever each: onnxruntime on a 640 x 640 square input (what was
served before), the rectangular letterbox, onnxruntime threads and graph level, INT8 QDQ, and
OpenVINO (the shipped IR at its default precision, which is bf16 on AMX CPUs, compiled for the
common 3:4 shape; the same compiled only dynamic-shape; forced f32 and f16; one thread; INT8).
HTTP is the real server (uvicorn, loopback) on the shipped IR, ``MODEL_PATH=model.xml``. For
each: p50/p90 latency, the ratio to stock, the network's input size, the bytes it adds to an
image (runtime package + model files), and whether its detections match stock's on bus.jpg
and zidane.jpg (same count, same classes, IoU >= 0.85 per box).
Target: HTTP p50 <= 0.40x stock p50.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.yolo_variants import int8_onnx, package_bytes
from models.yolo.backends import OnnxBackend, OpenVinoBackend
from models.yolo.boxes import letterbox
from models.yolo.export import offline_environment
from models.yolo.handler import YOLOModelHandler
from runtimes.fastapi.images import decode_rgb
from runtimes.fastapi.tests.conftest import ultralytics_asset
from runtimes.fastapi.tests.server_process import running_server
from tools.artifacts import build_artifacts

MIN_IOU = 0.85
MiB = 1024 * 1024


def iou(a, b) -> float:
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def agreement(found: list[tuple], stock: list[tuple]) -> tuple[bool, float]:
    """(same count and every stock box has a same-class box at IoU >= 0.85, the worst IoU)."""
    if len(found) != len(stock):
        return False, 0.0
    worst = 1.0
    for box, cls in stock:
        worst = min(worst, max((iou(box, b) for b, c in found if c == cls), default=0.0))
    return worst >= MIN_IOU, worst


class Option:
    def __init__(self, name: str, call, detect, input_shape: str, image_bytes: int):
        self.name, self.call, self.detect = name, call, detect
        self.input_shape, self.image_bytes = input_shape, image_bytes
        self.latencies: list[float] = []
        self.agrees: dict[str, tuple[bool, float]] = {}

    def timed(self) -> None:
        start = time.perf_counter()
        self.call()
        self.latencies.append(time.perf_counter() - start)

    def p(self, q: int) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def handler_with(backend, name: str) -> YOLOModelHandler:
    handler = YOLOModelHandler(Path("unused"), name="yolo")
    handler.backend = backend
    handler.ready = True
    return handler


def handler_option(name, backend, model_path: Path, runtime: str, image: bytes, images: dict) -> Option:
    handler = handler_with(backend, name)

    def detect(sample: str):
        response, _ = handler(images[sample])
        return [(d.box, d.class_id) for d in response.detections]

    shape = letterbox(decode_rgb(image, 10**9), backend.imgsz, backend.stride).tensor.shape
    files = [model_path, model_path.with_suffix(".bin")] if model_path.suffix == ".xml" else [model_path]
    size = package_bytes(runtime) + sum(f.stat().st_size for f in files)
    return Option(name, lambda: handler(image), detect, f"{shape[3]}x{shape[2]}", size)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50, help="timed calls per option (>= 50 for the target)")
    parser.add_argument(
        "--image", default="bus.jpg", help="an ultralytics sample image (bus.jpg, zidane.jpg)"
    )
    args = parser.parse_args()

    weights = build_artifacts("//models/yolo:weights")
    samples = {name: ultralytics_asset(name) for name in ("bus.jpg", "zidane.jpg")}
    image = samples[args.image]
    config_dir = Path(tempfile.mkdtemp(prefix="yolo-config-"))
    os.environ.update(offline_environment(config_dir))
    from ultralytics import YOLO  # after the offline settings: ultralytics reads them at import

    stock_model = YOLO(str(weights / "model.pt"), task="detect")
    paths = {}
    for name, data in samples.items():
        paths[name] = config_dir / name
        paths[name].write_bytes(data)

    def stock_detect(name: str):
        result = stock_model.predict(str(paths[name]), imgsz=640, verbose=False)[0]
        return [(box.tolist(), int(c)) for box, c in zip(result.boxes.xyxy, result.boxes.cls, strict=True)]

    # ultralytics letterboxes a .pt's input to the stride-32 rectangle (LetterBox auto=True).
    rect = letterbox(decode_rgb(image, 10**9), 640, 32).tensor.shape
    stock_input = f"{rect[3]}x{rect[2]}"
    onnx_path, ir_path = weights / "model.onnx", weights / "model.xml"
    calibration = [letterbox(decode_rgb(d, 10**9), 640, 32).tensor for d in samples.values()]
    int8 = int8_onnx(weights, calibration)
    torch_bytes = (
        package_bytes("torch") + package_bytes("ultralytics") + (weights / "model.pt").stat().st_size
    )
    options = [
        Option("stock ultralytics", lambda: stock_detect(args.image), stock_detect, stock_input, torch_bytes)
    ]

    def square(backend):  # the dynamic export fed a 640 x 640 square, as the old static export was
        backend.stride = None
        return backend

    specs = [
        ("ort square 640 (before)", lambda: square(OnnxBackend(onnx_path)), onnx_path, "onnxruntime"),
        ("ort rect", lambda: OnnxBackend(onnx_path), onnx_path, "onnxruntime"),
        ("ort rect 1 thread", lambda: OnnxBackend(onnx_path, threads=1), onnx_path, "onnxruntime"),
        (
            "ort rect graph basic",
            lambda: OnnxBackend(onnx_path, graph_level="basic"),
            onnx_path,
            "onnxruntime",
        ),
        ("ort rect int8", lambda: OnnxBackend(int8), int8, "onnxruntime"),
        ("openvino rect (shipped)", lambda: OpenVinoBackend(ir_path), ir_path, "openvino"),
        ("openvino rect f32", lambda: OpenVinoBackend(ir_path, precision="f32"), ir_path, "openvino"),
        ("openvino rect dynamic", lambda: OpenVinoBackend(ir_path, specialise=False), ir_path, "openvino"),
        ("openvino rect f16", lambda: OpenVinoBackend(ir_path, precision="f16"), ir_path, "openvino"),
        ("openvino rect 1 thread", lambda: OpenVinoBackend(ir_path, threads=1), ir_path, "openvino"),
        ("openvino rect int8", lambda: OpenVinoBackend(int8), int8, "openvino"),
    ]
    for name, make, path, runtime in specs:
        options.append(handler_option(name, make(), path, runtime, image, samples))

    settings = {
        "MODEL_NAME": "yolo",
        "MODEL_HANDLER": "models.yolo.handler:YOLOModelHandler",
        "MODEL_PATH": str(ir_path),
        "SERVER_LOG_LEVEL": "warning",
        "SERVER_GRPC_PORT": "0",
    }
    with (
        tempfile.TemporaryDirectory() as log_dir,
        running_server(settings, Path(log_dir), wait_for="/ready") as srv,
    ):
        client = srv.client()
        files = {"file": (args.image, image, "image/jpeg")}

        def over_http():
            client.post("/predict", files=files).raise_for_status()

        def http_detect(name: str):
            answer = client.post("/predict", files={"file": (name, samples[name], "image/jpeg")}).json()
            return [(d["box"], d["class_id"]) for d in answer["detections"]]

        shipped = next(o for o in options if o.name.endswith("(shipped)"))  # what MODEL_PATH serves
        http = Option(
            "HTTP /predict (shipped)", over_http, http_detect, shipped.input_shape, shipped.image_bytes
        )
        options.append(http)
        for option in options:
            for name in samples:
                option.agrees[name] = agreement(option.detect(name), stock_detect(name))
            for _ in range(3):  # warm
                option.call()
        # A fresh order each round (seeded): what ran just before a call (torch's threads, another
        # runtime's caches) shifts its time, and a fixed order would give each option a fixed neighbour.
        order = random.Random(0)
        for _ in range(args.runs):
            for option in order.sample(options, len(options)):
                option.timed()
        client.close()
    report(options, args, weights)
    return 0


def report(options: list[Option], args, weights: Path) -> None:
    stock = options[0]
    print(
        f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, image {args.image}, runs {args.runs}"
    )
    header = f"{'option':<26}{'input':>9}{'p50 ms':>9}{'p90 ms':>9}{'x stock':>9}{'MiB':>8}"
    print(f"{header}  same as stock (worst IoU)")
    for o in options:
        agree = "  ".join(
            f"{n.split('.')[0]} {'yes' if ok else 'NO'} ({w:.2f})" for n, (ok, w) in o.agrees.items()
        )
        print(
            f"{o.name:<26}{o.input_shape:>9}{o.p(50) * 1000:9.1f}{o.p(90) * 1000:9.1f}"
            f"{o.p(50) / stock.p(50):9.3f}{o.image_bytes / MiB:8.1f}  {agree}"
        )
    http = options[-1]
    ratio = http.p(50) / stock.p(50)
    verdict = "met" if ratio <= 0.40 else "NOT met"
    print(f"\nHTTP /predict p50 / stock p50 = {ratio:.3f}x (target <= 0.40x: {verdict})")
    print(
        f"stock p50 {statistics.median(stock.latencies) * 1000:.1f} ms; MiB = runtime package(s) + model file"
    )


if __name__ == "__main__":
    sys.exit(main())
