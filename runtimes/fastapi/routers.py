"""Thin HTTP routes: each one reads the request, calls the data plane and returns a pydantic model.

``get_model_loader`` is the FastAPI dependency that hands every route the app's ``ModelLoader``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from runtimes.fastapi import dataplane, rest_v2
from runtimes.fastapi.loader import ModelLoader
from runtimes.fastapi.protocol import (
    InferenceResponse,
    LiveResponse,
    ModelMetadataResponse,
    ModelReadyResponse,
    ReadyResponse,
    ServerMetadataResponse,
    Status,
)
from runtimes.fastapi.uploads import UPLOAD_FIELD, read_upload


def get_model_loader(request: Request) -> ModelLoader:
    return request.app.state.model_loader


Loader = Annotated[ModelLoader, Depends(get_model_loader)]
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": description, "content": {"application/json": {"example": {"error": "..."}}}}
    for code, description in {
        400: "invalid input",
        404: "no such model",
        413: "body or image over the limit",
        415: "not an image / wrong content type",
        422: "malformed request",
        501: "the model does not implement this",
        503: "model not ready",
    }.items()
}
# /predict reads its body itself (see uploads.py); this documents it in the OpenAPI schema.
UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [UPLOAD_FIELD],
                    "properties": {UPLOAD_FIELD: {"type": "string", "format": "binary"}},
                }
            },
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}

# V2 infer reads its body itself (rest_v2.py): documented here as the protocol's JSON object.
INFER_SCHEMA = {
    "requestBody": {
        "required": True,
        "description": "a V2 inference request; with the binary tensor extension, that JSON "
        "(Inference-Header-Content-Length bytes) followed by the binary inputs",
        "content": {"application/json": {"schema": {"type": "object", "required": ["inputs"]}}},
    }
}

router = APIRouter()


@router.get("/health", responses=ERROR_RESPONSES)
async def health(loader: Loader) -> Status:
    dataplane.live(loader)
    return Status(status="alive")


@router.get("/ready", responses=ERROR_RESPONSES)
async def ready(loader: Loader) -> Status:
    dataplane.ready(loader)
    return Status(status="ready")


@router.get("/metrics", response_class=Response)
def prometheus_metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.post("/predict", responses=ERROR_RESPONSES, openapi_extra=UPLOAD_SCHEMA)
async def predict(request: Request, loader: Loader) -> Any:
    """Runs the model on an uploaded file (multipart field ``file``, or the raw body)."""
    # Refuse before reading the body when the model cannot take it anyway.
    loader.require_ready()
    payload = await read_upload(request)
    return await dataplane.predict(loader, payload)


v2 = APIRouter(prefix="/v2", responses=ERROR_RESPONSES)


@v2.get("")
@v2.get("/", include_in_schema=False)  # the spec's spelling; clients use both
async def server_metadata() -> ServerMetadataResponse:
    return dataplane.server_metadata()


@v2.get("/health/live")
async def v2_live(loader: Loader) -> LiveResponse:
    dataplane.live(loader)
    return LiveResponse(live=True)


@v2.get("/health/ready")
async def v2_ready(loader: Loader) -> ReadyResponse:
    dataplane.ready(loader)
    return ReadyResponse(ready=True)


@v2.get("/models/{name}")
@v2.get("/models/{name}/versions/{version}")
async def model_metadata(name: str, loader: Loader, version: str | None = None) -> ModelMetadataResponse:
    return dataplane.model_metadata(loader, name, version)


@v2.get("/models/{name}/ready")
@v2.get("/models/{name}/versions/{version}/ready")
async def model_ready(name: str, loader: Loader, version: str | None = None) -> ModelReadyResponse:
    dataplane.model_ready(loader, name, version)
    return ModelReadyResponse(name=name, ready=True)


@v2.post("/models/{name}/infer", response_model=InferenceResponse, openapi_extra=INFER_SCHEMA)
@v2.post(
    "/models/{name}/versions/{version}/infer", response_model=InferenceResponse, openapi_extra=INFER_SCHEMA
)
async def infer(name: str, request: Request, loader: Loader, version: str | None = None) -> Response:
    """V2 inference; the body is read here, whatever its Content-Type (see rest_v2.py)."""
    model = dataplane.infer_model(loader, name, version)
    body = rest_v2.decompress(
        await request.body(),
        request.headers.get("content-encoding"),
        request.app.state.settings.server_max_upload_bytes,
    )
    parsed, binary = rest_v2.parse_request(body, request.headers)
    arrays = rest_v2.decode_inputs(parsed, binary, model.inputs)
    wanted = dataplane.output_names(model, [o.name for o in parsed.outputs or ()])
    outputs = await dataplane.infer(loader, model, arrays, wanted)
    content, headers = rest_v2.encode_response(parsed, model.name, model.version, outputs)
    return Response(content, headers=headers)
