"""What the server does, independent of the wire: health, metadata, /predict and V2 inference.

REST routers and the gRPC service call these with the ``ModelLoader``; everything here raises
``runtimes.fastapi.errors`` exceptions, which ``app.py`` maps to HTTP status codes and
``grpc_v2.py`` to gRPC ones. No web framework is imported here.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from runtimes.fastapi import metrics
from runtimes.fastapi.errors import InvalidInput, ModelNotFound, NotImplementedByModel, ServerUnhealthy
from runtimes.fastapi.loader import LoadState, ModelLoader
from runtimes.fastapi.model import Model
from runtimes.fastapi.protocol import ModelMetadataResponse, ServerMetadataResponse, TensorMetadata

SERVER_NAME = "runtimes.fastapi"
SERVER_VERSION = "1"
# Triton's name for the REST binary tensor extension, which tritonclient and KServe's client use.
EXTENSIONS = ("binary_tensor_data",)


def live(loader: ModelLoader) -> None:
    """Raises once the model has failed to load: a restart is the only way out of that state."""
    if loader.state is LoadState.FAILED:
        raise ServerUnhealthy(f"model {loader.model.name!r} {loader.error}")


def ready(loader: ModelLoader) -> None:
    loader.require_ready()


def find_model(loader: ModelLoader, name: str) -> Model:
    if name != loader.model.name:
        raise ModelNotFound(name)
    return loader.model


def model_ready(loader: ModelLoader, name: str, version: str | None = None) -> None:
    check_version(find_model(loader, name), version)
    loader.require_ready()


def server_metadata() -> ServerMetadataResponse:
    return ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION, extensions=list(EXTENSIONS))


def model_metadata(loader: ModelLoader, name: str, version: str | None = None) -> ModelMetadataResponse:
    model = find_model(loader, name)
    check_version(model, version)

    def describe(specs):
        return [TensorMetadata(name=s.name, datatype=s.datatype, shape=list(s.shape)) for s in specs]

    return ModelMetadataResponse(
        name=model.name,
        versions=[model.version],
        platform=model.platform,
        inputs=describe(model.inputs),
        outputs=describe(model.outputs),
    )


def _observe(model: Model, timings: dict[str, float]) -> None:
    for stage, seconds in timings.items():
        metrics.INFERENCE_SECONDS.labels(model.name, stage).observe(seconds)


async def predict(loader: ModelLoader, payload: Any) -> Any:
    """Runs the model's preprocess -> predict -> postprocess on an inference thread."""
    model = loader.require_ready()
    response, timings = await loader.run(model, payload)
    _observe(model, timings)
    return response


def check_version(model: Model, version: str | None) -> None:
    """A versioned route or request names the one version served here, or none at all."""
    if version and version != model.version:
        raise ModelNotFound(model.name, f"version {version!r} is not served here (only {model.version!r})")


def infer_model(loader: ModelLoader, name: str, version: str | None) -> Model:
    """The model an infer request may run on: found, of that version, ready and speaking V2."""
    model = find_model(loader, name)
    check_version(model, version)
    loader.require_ready()
    if not model.speaks_v2:
        raise NotImplementedByModel(f"model {model.name!r} does not implement V2 tensor inference")
    return model


def output_names(model: Model, requested: list[str]) -> list[str]:
    """The outputs to answer: those requested (checked), or all the model declares."""
    declared = [spec.name for spec in model.outputs]
    unknown = sorted(set(requested) - set(declared))
    if unknown:
        raise InvalidInput(f"unknown output(s) {unknown}; the model returns {declared}")
    return requested or declared


def _selected(model: Model, outputs: dict[str, np.ndarray], wanted: list[str]) -> dict[str, np.ndarray]:
    missing = [name for name in wanted if name not in outputs]
    if missing:
        raise TypeError(f"model {model.name!r} returned no {missing}")
    return {name: outputs[name] for name in wanted}


async def infer(
    loader: ModelLoader, model: Model, arrays: dict[str, np.ndarray], wanted: list[str]
) -> dict[str, np.ndarray]:
    """V2 inference on already-checked input arrays; the ``wanted`` outputs, in that order."""
    start = time.perf_counter()
    outputs = await loader.run(model.infer_tensors, arrays)
    metrics.INFERENCE_SECONDS.labels(model.name, "infer").observe(time.perf_counter() - start)
    return _selected(model, outputs, wanted)


def infer_blocking(
    loader: ModelLoader, model: Model, arrays: dict[str, np.ndarray], wanted: list[str]
) -> dict[str, np.ndarray]:
    """``infer`` for callers on their own threads (the gRPC server), on the same inference pool."""
    start = time.perf_counter()
    outputs = loader.run_blocking(model.infer_tensors, arrays)
    metrics.INFERENCE_SECONDS.labels(model.name, "infer").observe(time.perf_counter() - start)
    return _selected(model, outputs, wanted)
