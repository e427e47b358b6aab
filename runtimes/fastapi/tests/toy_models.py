"""Small real handlers the runtime's tests serve through ``MODEL_HANDLER``, no weights needed.

``GatedSum`` waits at load for its gate file to exist, so a test controls exactly when the model
becomes ready; its predict can be told to take a while, to hold a request in flight.
"""

from __future__ import annotations

import time

import numpy as np

from runtimes.fastapi.images import decode_rgb
from runtimes.fastapi.model import Model, TensorSpec


class GatedSum(Model):
    """``/predict``: an image's size and mean colour. V2: row sums of an FP32 [-1, 3] tensor.

    Load blocks until ``model_path`` exists (the test creates it) and fails if that file says "fail".
    """

    inputs = (TensorSpec("x", "FP32", (-1, 3)),)
    outputs = (TensorSpec("sum", "FP32", (-1,)), TensorSpec("count", "INT64", (1,)))

    def load(self) -> None:
        while not self.model_path.exists():
            time.sleep(0.02)
        if self.model_path.read_text().strip() == "fail":
            raise RuntimeError("the gate file says fail")
        super().load()

    def preprocess(self, payload: bytes) -> np.ndarray:
        # A request whose first bytes are b"sleep:<seconds>;" holds its inference thread that long.
        if payload.startswith(b"sleep:"):
            head, _, payload = payload.partition(b";")
            time.sleep(float(head[len(b"sleep:") :]))
        return decode_rgb(payload, self.max_image_pixels)

    def predict(self, model_input: np.ndarray) -> np.ndarray:
        return model_input.reshape(-1, 3).mean(axis=0)

    def postprocess(self, model_output: np.ndarray, model_input: np.ndarray) -> dict:
        height, width = model_input.shape[:2]
        return {"width": width, "height": height, "mean_rgb": [round(float(v), 3) for v in model_output]}

    def infer_tensors(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = tensors["x"]
        return {"sum": x.sum(axis=1), "count": np.array([x.shape[0]], dtype=np.int64)}


class NoV2(Model):
    """A handler without V2 tensor support (the server answers 501 on /infer); b"bug" crashes it."""

    def predict(self, model_input: bytes) -> dict:
        if model_input == b"bug":
            raise RuntimeError("a bug in the handler, with internals in its message")
        return {"bytes": len(model_input)}
