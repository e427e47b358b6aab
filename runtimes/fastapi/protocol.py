"""pydantic v2 models of the V2 Open Inference Protocol (the REST half KServe and Triton speak).

A tensor's elements are in ``data`` (row-major, flat or nested) or, with the binary tensor
extension, after the JSON in the body (``parameters.binary_data_size`` bytes each; rest_v2.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]


class RequestInput(BaseModel):
    name: str = Field(min_length=1)
    shape: list[int] = Field(description="dimension sizes, each >= 0")
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None  # None when the tensor travels as binary data


class RequestOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    # Other fields are ignored, as the spec allows: KServe's client sends "model_name" in the body.
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None  # None when the tensor travels as binary data


class InferenceResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


class TensorMetadata(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int]


class ModelMetadataResponse(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadataResponse(BaseModel):
    name: str
    version: str
    extensions: list[str]


class Status(BaseModel):
    """What /health and /ready answer when all is well (errors get ``{"error": ...}``)."""

    status: str


class LiveResponse(BaseModel):
    """V2 live: the body KServe's server sends and its InferenceRESTClient reads (``live``)."""

    live: bool


class ReadyResponse(BaseModel):
    """V2 server ready: KServe's body (its client reads ``ready``; Triton's sends none)."""

    ready: bool


class ModelReadyResponse(ReadyResponse):
    """V2 model ready: KServe's ``ModelReadyResponse`` names the model too."""

    name: str
