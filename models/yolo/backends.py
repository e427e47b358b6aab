"""The two ways to run the YOLO network: onnxruntime (the CPU image) or ultralytics on torch.

Both take the same letterboxed float32 tensor and return the same raw head output
``[1, 4 + classes, anchors]``; pre/post-processing lives in ``boxes.py``. The ONNX backend never
imports torch, so the CPU image can leave it out.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Protocol

import numpy as np

from runtimes.fastapi.cpus import cpu_budget


class Backend(Protocol):
    names: dict[int, str]
    imgsz: int
    description: str

    def forward(self, tensor: np.ndarray) -> np.ndarray: ...


class OnnxBackend:
    """onnxruntime on an ultralytics ONNX export; names and input size come from its metadata."""

    def __init__(self, path: Path):
        import onnxruntime

        wanted = ("CUDAExecutionProvider", "CPUExecutionProvider")
        providers = [p for p in wanted if p in onnxruntime.get_available_providers()]
        options = onnxruntime.SessionOptions()
        # onnxruntime sizes its pool from the node's cores; a pod gets its CPU limit's worth.
        options.intra_op_num_threads = cpu_budget()
        self.session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        meta = self.session.get_modelmeta().custom_metadata_map
        if "names" not in meta:
            raise ValueError(f"{path} has no 'names' metadata: export it with ultralytics")
        # ultralytics writes these as Python literals ("{0: 'Normal', 1: 'Fall'}", "[640, 640]").
        self.names = {int(k): str(v) for k, v in ast.literal_eval(meta["names"]).items()}
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        height, width = model_input.shape[2:]
        if not (isinstance(height, int) and height == width):
            raise ValueError(f"{path}: expected a fixed square input, found {model_input.shape}")
        self.imgsz = height
        self.description = f"onnxruntime {onnxruntime.__version__} ({self.session.get_providers()[0]})"

    def forward(self, tensor: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: tensor})[0]


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
        self.description = f"torch {torch.__version__} ({self.device})"

    def forward(self, tensor: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            output = self.model(self.torch.from_numpy(tensor).to(self.device))
        if isinstance(output, (list, tuple)):  # Detect heads return (predictions, features)
            output = output[0]
        return output.float().cpu().numpy()


def model_file(path: Path) -> Path:
    """The weights file: ``path`` itself, or in an artifact directory model.onnx, else model.pt."""
    if path.is_dir():
        return next(
            (path / n for n in ("model.onnx", "model.pt") if (path / n).exists()), path / "model.onnx"
        )
    return path


def open_backend(path: Path) -> Backend:
    """Picks the backend by suffix: .onnx -> onnxruntime, .pt -> ultralytics on torch."""
    path = model_file(path)
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    if path.suffix == ".onnx":
        return OnnxBackend(path)
    if path.suffix == ".pt":
        return TorchBackend(path)
    raise ValueError(f"{path}: expected a .onnx or .pt file")
