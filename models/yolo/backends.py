"""The ways to run the YOLO network: onnxruntime (the CPU image), OpenVINO, or ultralytics on torch.

All take the same letterboxed float32 tensor and return the same raw head output
``[1, 4 + classes, anchors]``; pre/post-processing lives in ``boxes.py``. A backend whose model
takes any input size (a ``dynamic=True`` export, or torch) has ``stride`` set, and the handler then
letterboxes to the rectangle ultralytics' own predict uses (480 x 640 for a 3:4 portrait photo)
instead of a 640 x 640 square. The ONNX and OpenVINO backends never import torch.
"""

from __future__ import annotations

import ast
import threading
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from runtimes.fastapi.cpus import cpu_budget

STRIDE = 32  # YOLOv8's largest feature-map stride: input sides must be multiples of it


class Backend(Protocol):
    names: dict[int, str]
    imgsz: int
    stride: int | None  # None: fixed square input of imgsz; else any multiple of stride
    description: str

    def forward(self, tensor: np.ndarray) -> np.ndarray: ...


def common_shape(imgsz: int, stride: int | None) -> tuple[int, int, int, int]:
    """The input the server warms up on: a 3:4 portrait rectangle (the common photo shape, e.g.
    bus.jpg) for a dynamic-shape model, else its fixed square."""
    return (1, 3, imgsz, imgsz * 3 // 4) if stride else (1, 3, imgsz, imgsz)


def _names(meta: dict[str, str], path: Path) -> dict[int, str]:
    if "names" not in meta:
        raise ValueError(f"{path} has no 'names' metadata: export it with ultralytics")
    # ultralytics writes these as Python literals ("{0: 'Normal', 1: 'Fall'}", "[640, 640]").
    return {int(k): str(v) for k, v in ast.literal_eval(meta["names"]).items()}


def _input_size(shape: list, meta: dict[str, str], path: Path) -> tuple[int, int | None]:
    """(imgsz, stride): a fixed square input, or a dynamic one sized by the export's imgsz."""
    height, width = shape[2:]
    if isinstance(height, int) and height == width:
        return height, None
    if isinstance(height, int) or isinstance(width, int):
        raise ValueError(f"{path}: expected a square or a fully dynamic input, found {shape}")
    imgsz = ast.literal_eval(meta.get("imgsz", "[640, 640]"))
    return max(imgsz), STRIDE


class OnnxBackend:
    """onnxruntime on an ultralytics ONNX export; names and input size come from its metadata."""

    def __init__(self, path: Path, threads: int | None = None, graph_level: str = "all"):
        import onnxruntime

        wanted = ("CUDAExecutionProvider", "CPUExecutionProvider")
        providers = [p for p in wanted if p in onnxruntime.get_available_providers()]
        options = onnxruntime.SessionOptions()
        # onnxruntime sizes its pool from the node's cores; a pod gets its CPU limit's worth.
        options.intra_op_num_threads = threads or cpu_budget()
        levels = onnxruntime.GraphOptimizationLevel
        options.graph_optimization_level = {
            "basic": levels.ORT_ENABLE_BASIC,
            "extended": levels.ORT_ENABLE_EXTENDED,
            "all": levels.ORT_ENABLE_ALL,
        }[graph_level]
        self.session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.names = _names(meta, path)
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.imgsz, self.stride = _input_size(model_input.shape, meta, path)
        self.description = f"onnxruntime {onnxruntime.__version__} ({self.session.get_providers()[0]})"

    def forward(self, tensor: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: tensor})[0]


class OpenVinoBackend:
    """OpenVINO on the IR export (``model.xml``, names in its rt_info) or on an ultralytics ONNX.

    ``precision`` "" leaves OpenVINO's default: bf16 on CPUs with AMX or AVX512-BF16, f32 elsewhere
    (measured by bench/bench_yolo_levers.py: same detections as ultralytics' predict, ~3x faster
    than f32 here); "f32" forces full floats.

    A dynamic-shape model is compiled twice: once reshaped to ``common_shape`` (static shapes let
    the CPU plugin plan every kernel at compile time; measured 0.87-0.96x the dynamic model's
    forward, and a first inference ~3x cheaper, which is the server's warm-up) and, on the first
    input of any other shape, as is (``specialise=False``: only the dynamic one).
    """

    def __init__(self, path: Path, threads: int | None = None, precision: str = "", specialise: bool = True):
        start = time.perf_counter()
        import openvino

        imported = time.perf_counter()
        core = openvino.Core()
        model = core.read_model(str(path))
        read = time.perf_counter()
        if path.suffix == ".xml":
            meta = {key: model.get_rt_info(["model_info", key]).astype(str) for key in ("names", "imgsz")}
        else:  # an ONNX file: ultralytics' metadata_props, which OpenVINO does not carry over
            import onnx

            props = onnx.load(str(path), load_external_data=False).metadata_props
            meta = {p.key: p.value for p in props}
        self.names = _names(meta, path)
        shape = [d.get_length() if d.is_static else None for d in model.inputs[0].get_partial_shape()]
        self.imgsz, self.stride = _input_size(shape, meta, path)
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads or cpu_budget()}
        if precision:
            config["INFERENCE_PRECISION_HINT"] = precision
        self._core, self._model, self._config = core, model, config
        self._requests = {}  # input shape -> infer request of a model compiled for that shape
        self._dynamic = None  # the dynamic-shape model's request, compiled on first need
        self._compiling = threading.Lock()
        if self.stride and specialise:
            shape = common_shape(self.imgsz, self.stride)
            static = model.clone()
            static.reshape(list(shape))
            self._requests[shape] = core.compile_model(static, "CPU", config).create_infer_request()
        else:
            self._dynamic = core.compile_model(model, "CPU", config).create_infer_request()
        # Where a pod's start goes (the server logs these; bench/bench_yolo_start.py reads them).
        self.open_timings = {
            "import openvino": imported - start,
            "read": read - imported,
            "compile": time.perf_counter() - read,
        }
        self.description = f"openvino {openvino.__version__} (CPU, {precision or 'default'} precision)"

    @property
    def compiled_shapes(self) -> list[tuple[int, ...] | str]:
        """The static input shapes compiled so far, and "dynamic" once that model is too."""
        return [*self._requests, *(["dynamic"] if self._dynamic is not None else [])]

    def _request_for(self, shape: tuple[int, ...]):
        request = self._requests.get(shape)
        if request is not None:
            return request
        with self._compiling:
            if self._dynamic is None:
                compiled = self._core.compile_model(self._model, "CPU", self._config)
                self._dynamic = compiled.create_infer_request()
        return self._dynamic

    def forward(self, tensor: np.ndarray) -> np.ndarray:
        return self._request_for(tensor.shape).infer([tensor])[0].copy()


class TorchBackend:
    """Any ultralytics .pt through ultralytics' AutoBackend (fused, eval mode) on torch."""

    def __init__(self, path: Path, imgsz: int = 640):
        import torch
        from ultralytics.nn.autobackend import AutoBackend

        self.torch = torch
        torch.set_num_threads(cpu_budget())
        self.device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
        self.model = AutoBackend(str(path), device=self.device, fuse=True, verbose=False)
        self.model.eval()
        self.names = {int(k): str(v) for k, v in self.model.names.items()}
        self.imgsz = imgsz
        self.stride = STRIDE  # any size: the rectangle ultralytics predict uses too
        self.description = f"torch {torch.__version__} ({self.device})"

    def forward(self, tensor: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            output = self.model(self.torch.from_numpy(tensor).to(self.device))
        if isinstance(output, (list, tuple)):  # Detect heads return (predictions, features)
            output = output[0]
        return output.float().cpu().numpy()


ARTIFACT_FILES = ("model.xml", "model.onnx", "model.pt")


def model_file(path: Path) -> Path:
    """The weights file: ``path`` itself, or in an artifact directory the first of ARTIFACT_FILES."""
    if path.is_dir():
        return next((path / n for n in ARTIFACT_FILES if (path / n).exists()), path / ARTIFACT_FILES[0])
    return path


def open_backend(path: Path) -> Backend:
    """Picks the backend by suffix: .onnx -> onnxruntime, .xml -> OpenVINO, .pt -> torch."""
    path = model_file(path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    if path.suffix == ".onnx":
        return OnnxBackend(path)
    if path.suffix == ".xml":
        return OpenVinoBackend(path)
    if path.suffix == ".pt":
        return TorchBackend(path)
    raise ValueError(f"{path}: expected a .onnx, .xml (OpenVINO IR) or .pt file")
