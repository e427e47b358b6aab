"""``YOLOModelHandler``: object detection for the fastapi runtime (OpenVINO IR, ONNX or .pt).

``MODEL_HANDLER=models.yolo.handler:YOLOModelHandler``, ``MODEL_PATH`` = a ``.xml`` (OpenVINO
IR, what the image serves), a ``.onnx``, a ``.pt`` or the artifact directory. ``/predict`` takes
an image file and answers detections in original-image pixels; V2 ``/infer`` takes an RGB UINT8
[height, width, 3] tensor and answers ``boxes``, ``scores`` and ``class_ids``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from models.yolo.backends import Backend, common_shape, model_file, open_backend
from models.yolo.boxes import Detections, Letterboxed, letterbox, postprocess
from runtimes.fastapi.errors import InvalidInput
from runtimes.fastapi.images import decode_rgb
from runtimes.fastapi.model import Model, TensorSpec


class Detection(BaseModel):
    class_id: int
    class_name: str
    confidence: float
    box: list[float]  # x1, y1, x2, y2 in original-image pixels


class DetectionResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    inference_ms: float  # network forward pass plus NMS, without decoding the upload
    image_width: int
    image_height: int
    detections: list[Detection]


@dataclass(frozen=True)
class RawOutput:
    array: np.ndarray
    forward_seconds: float


class YOLOModelHandler(Model):
    """Detects objects with any ultralytics YOLO detection model (.pt via torch, .onnx via onnxruntime)."""

    inputs = (TensorSpec("image", "UINT8", (-1, -1, 3)),)
    outputs = (
        TensorSpec("boxes", "FP32", (-1, 4)),
        TensorSpec("scores", "FP32", (-1,)),
        TensorSpec("class_ids", "INT64", (-1,)),
    )

    def __init__(self, model_path: str | Path, **kwargs):
        super().__init__(model_path, **kwargs)
        self.backend: Backend | None = None
        self.load_timings: dict[str, float] = {}

    @property
    def platform(self) -> str:  # type: ignore[override]
        platforms = {".xml": "openvino", ".onnx": "onnxruntime_onnx", ".pt": "ultralytics_pytorch"}
        return platforms.get(model_file(self.model_path).suffix, "unknown")

    def load(self) -> None:
        start = time.perf_counter()
        self.backend = open_backend(self.model_path)
        opened = time.perf_counter()
        # One throwaway pass: onnxruntime and torch allocate and pick kernels on the first run,
        # which would otherwise land on the first client's request.
        # A 3:4 rectangle for a dynamic-shape model: the common photo shape gets its kernels ready.
        shape = common_shape(self.backend.imgsz, self.backend.stride)
        self.backend.forward(np.zeros(shape, dtype=np.float32))
        # Logged by the server's loader: where a pod's start-up time goes.
        # The OpenVINO backend splits its open into import, read and compile.
        opening = getattr(self.backend, "open_timings", None)
        opening = opening or {"open (import, read, compile)": opened - start}
        self.load_timings = {**opening, "warm-up": time.perf_counter() - opened}
        super().load()

    @property
    def names(self) -> dict[int, str]:
        assert self.backend is not None, "load() first"
        return self.backend.names

    def preprocess(self, payload: bytes | np.ndarray) -> Letterboxed:
        rgb = payload if isinstance(payload, np.ndarray) else decode_rgb(payload, self.max_image_pixels)
        return letterbox(rgb, self.backend.imgsz, self.backend.stride)

    def predict(self, model_input: Letterboxed) -> RawOutput:
        start = time.perf_counter()
        array = self.backend.forward(model_input.tensor)
        return RawOutput(array, time.perf_counter() - start)

    def detect(self, model_input: Letterboxed, raw: RawOutput) -> Detections:
        return postprocess(raw.array, model_input)

    def postprocess(self, model_output: RawOutput, model_input: Letterboxed) -> DetectionResponse:
        start = time.perf_counter()
        found = self.detect(model_input, model_output)
        nms_seconds = time.perf_counter() - start
        width, height = model_input.original_size
        return DetectionResponse(
            model_name=self.name,
            model_version=self.version,
            inference_ms=round((model_output.forward_seconds + nms_seconds) * 1000, 3),
            image_width=width,
            image_height=height,
            detections=[
                Detection(
                    class_id=int(class_id),
                    class_name=self.names.get(int(class_id), str(class_id)),
                    confidence=round(float(score), 4),
                    box=[round(float(v), 1) for v in box],
                )
                for box, score, class_id in zip(found.boxes, found.scores, found.class_ids, strict=True)
            ],
        )

    def infer_tensors(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        image = tensors["image"]
        height, width = image.shape[:2]
        if height == 0 or width == 0:
            raise InvalidInput(f"input 'image' has no pixels ({height}x{width})")
        if height * width > self.max_image_pixels:
            raise InvalidInput(f"input 'image' has {height * width} pixels, over {self.max_image_pixels}")
        model_input = self.preprocess(np.ascontiguousarray(image))
        found = self.detect(model_input, self.predict(model_input))
        return {"boxes": found.boxes, "scores": found.scores, "class_ids": found.class_ids}
