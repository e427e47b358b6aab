"""The handler base class every served model subclasses (KServe's ``Model``, trimmed).

The server calls ``load()`` once, in a background thread, then runs each request through
``preprocess -> predict -> postprocess`` on an inference thread, timing each stage. A handler
that also speaks V2 tensors declares ``inputs``/``outputs`` and overrides ``infer_tensors``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from runtimes.fastapi.errors import NotImplementedByModel

DEFAULT_MAX_IMAGE_PIXELS = 40_000_000


@dataclass(frozen=True)
class TensorSpec:
    """A V2 tensor a model takes or returns; ``-1`` in ``shape`` means any size."""

    name: str
    datatype: str
    shape: tuple[int, ...]


class Model:
    """Subclass, implement ``load`` and ``predict`` (and usually ``preprocess``/``postprocess``).

    Args:
        model_path: the weights file or directory (``MODEL_PATH``).
        name: the name clients address the model by (``MODEL_NAME``).
        version: reported in responses and metadata (``MODEL_VERSION``).
        max_image_pixels: image handlers refuse images with more pixels (``SERVER_MAX_IMAGE_PIXELS``).
    """

    platform: ClassVar[str] = "python"
    inputs: ClassVar[tuple[TensorSpec, ...]] = ()
    outputs: ClassVar[tuple[TensorSpec, ...]] = ()

    def __init__(
        self,
        model_path: str | Path,
        *,
        name: str | None = None,
        version: str = "1",
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    ):
        self.model_path = Path(model_path)
        self.name = name or type(self).__name__.lower()
        self.version = version
        self.max_image_pixels = max_image_pixels
        self.ready = False

    def load(self) -> None:
        """Loads weights; subclasses call ``super().load()`` last, which marks the model ready."""
        self.ready = True

    def preprocess(self, payload: Any) -> Any:
        """Turns a request payload (the uploaded bytes for ``/predict``) into the model's input."""
        return payload

    def predict(self, model_input: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement predict()")

    def postprocess(self, model_output: Any, model_input: Any) -> Any:
        """Turns the raw output into the JSON-able response; gets the input for its context."""
        return model_output

    def __call__(self, payload: Any) -> tuple[Any, dict[str, float]]:
        """Runs the three stages; returns the response and each stage's seconds."""
        timings: dict[str, float] = {}
        start = time.perf_counter()
        model_input = self.preprocess(payload)
        timings["preprocess"] = (mark := time.perf_counter()) - start
        model_output = self.predict(model_input)
        timings["predict"] = (done := time.perf_counter()) - mark
        response = self.postprocess(model_output, model_input)
        timings["postprocess"] = time.perf_counter() - done
        return response, timings

    @property
    def speaks_v2(self) -> bool:
        """Whether this handler implements ``infer_tensors`` (else V2 /infer answers 501)."""
        return type(self).infer_tensors is not Model.infer_tensors

    def infer_tensors(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """V2 inference: named input arrays (already checked against ``inputs``) to named outputs."""
        raise NotImplementedByModel(f"model {self.name!r} does not implement V2 tensor inference")
