"""What the server does, independent of HTTP: health, metadata, /predict and V2 inference.

Routers call these with the ``ModelLoader``; everything here raises ``runtimes.fastapi.errors``
exceptions, which ``app.py`` maps to status codes. No web framework is imported here.
"""

from __future__ import annotations

from typing import Any

from runtimes.fastapi import metrics
from runtimes.fastapi.errors import InvalidInput, ModelNotFound, NotImplementedByModel, ServerUnhealthy
from runtimes.fastapi.loader import LoadState, ModelLoader
from runtimes.fastapi.model import Model
from runtimes.fastapi.protocol import (
    InferenceRequest,
    InferenceResponse,
    ModelMetadataResponse,
    ServerMetadataResponse,
    TensorMetadata,
)
from runtimes.fastapi.tensors import decode_inputs, encode_output

SERVER_NAME = "runtimes.fastapi"
SERVER_VERSION = "1"


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


def model_ready(loader: ModelLoader, name: str) -> None:
    find_model(loader, name)
    loader.require_ready()


def server_metadata() -> ServerMetadataResponse:
    return ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION, extensions=[])


def model_metadata(loader: ModelLoader, name: str) -> ModelMetadataResponse:
    model = find_model(loader, name)

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


async def infer(loader: ModelLoader, name: str, request: InferenceRequest) -> InferenceResponse:
    model = find_model(loader, name)
    loader.require_ready()
    if not model.speaks_v2:
        raise NotImplementedByModel(f"model {model.name!r} does not implement V2 tensor inference")
    declared = [spec.name for spec in model.outputs]
    wanted = [o.name for o in request.outputs] if request.outputs else declared
    unknown = sorted(set(wanted) - set(declared))
    if unknown:
        raise InvalidInput(f"unknown output(s) {unknown}; the model returns {declared}")
    arrays = decode_inputs(request.inputs, model.inputs)
    outputs = await loader.run(model.infer_tensors, arrays)
    return InferenceResponse(
        model_name=model.name,
        model_version=model.version,
        id=request.id,
        outputs=[encode_output(name, outputs[name]) for name in wanted],
    )
