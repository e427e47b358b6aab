"""The Open Inference Protocol over gRPC (``inference.GRPCInferenceService``) on SERVER_GRPC_PORT.

The messages and the service come from ``tritonclient.grpc`` (``service_pb2``, ``service_pb2_grpc``):
Triton's GRPCInferenceService, a superset of the open inference protocol's with the same service
name, RPC names and field numbers, so ``tritonclient.grpc`` and KServe's ``InferenceGRPCClient``
both talk to it, and no .proto is copied into this repository. The RPCs Triton adds and this
platform does not implement (streaming, model config, repository, shared memory, trace, logging)
keep the generated servicer's answer: UNIMPLEMENTED.

Each RPC calls the same data plane as the REST routes; errors become gRPC status codes from the
one table below, with the same messages. Inference runs on the server's inference pool, so gRPC
and REST requests share its bound.
"""

from __future__ import annotations

import functools
import logging
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from runtimes.fastapi import dataplane
from runtimes.fastapi.errors import (
    HTTP_STATUS,
    InvalidInput,
    MalformedRequest,
    ModelNotFound,
    ModelNotReady,
    NotImplementedByModel,
    Overloaded,
    PayloadTooLarge,
    ServerError,
    ServerUnhealthy,
    UnsupportedMediaType,
)
from runtimes.fastapi.loader import ModelLoader
from runtimes.fastapi.tensors import check_tensor, datatype_of, from_json, from_raw, require_all, to_raw

log = logging.getLogger(__name__)
SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name

GRPC_STATUS: dict[type[ServerError], grpc.StatusCode] = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    MalformedRequest: grpc.StatusCode.INVALID_ARGUMENT,
    UnsupportedMediaType: grpc.StatusCode.INVALID_ARGUMENT,
    PayloadTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ModelNotFound: grpc.StatusCode.NOT_FOUND,
    NotImplementedByModel: grpc.StatusCode.UNIMPLEMENTED,
    ModelNotReady: grpc.StatusCode.UNAVAILABLE,
    ServerUnhealthy: grpc.StatusCode.UNAVAILABLE,
    Overloaded: grpc.StatusCode.UNAVAILABLE,  # what gRPC clients retry on
}
assert set(GRPC_STATUS) == set(HTTP_STATUS), "every server error needs a gRPC code too"

# Which InferTensorContents field holds each datatype (FP16 has none: raw contents only).
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def decode_inputs(request, specs) -> dict[str, np.ndarray]:
    """Each input as an array, from its raw_input_contents entry or its typed contents."""
    by_name = {spec.name: spec for spec in specs}
    arrays: dict[str, np.ndarray] = {}
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidInput(f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs")
    for index, tensor in enumerate(request.inputs):
        shape = list(tensor.shape)
        check_tensor(tensor.name, tensor.datatype, shape, by_name)
        if tensor.name in arrays:
            raise InvalidInput(f"input {tensor.name!r} is given twice")
        if raw:
            arrays[tensor.name] = from_raw(tensor.name, tensor.datatype, shape, raw[index])
        elif tensor.datatype not in CONTENTS_FIELD:
            raise InvalidInput(f"input {tensor.name!r}: {tensor.datatype} must be sent as raw_input_contents")
        else:
            data = list(getattr(tensor.contents, CONTENTS_FIELD[tensor.datatype]))
            arrays[tensor.name] = from_json(tensor.name, tensor.datatype, shape, data)
    require_all(arrays, by_name)
    return arrays


def _answering_errors(rpc):
    """Turns the data plane's errors into gRPC statuses; anything else is a logged bug (INTERNAL)."""

    @functools.wraps(rpc)
    def handler(self, request, context):
        try:
            return rpc(self, request, context)
        except ServerError as error:
            code = next(GRPC_STATUS[c] for c in type(error).__mro__ if c in GRPC_STATUS)
            context.abort(code, error.message)
        except Exception:
            log.exception("unhandled error in %s", rpc.__name__)
            context.abort(grpc.StatusCode.INTERNAL, "internal server error")

    return handler


class InferenceServicer(service_pb2_grpc.GRPCInferenceServiceServicer):
    """The protocol's RPCs over the app's ``ModelLoader``; the rest stay the base's UNIMPLEMENTED."""

    def __init__(self, loader: ModelLoader):
        self.loader = loader

    @_answering_errors
    def ServerLive(self, request, context):
        try:
            dataplane.live(self.loader)
        except ServerUnhealthy:
            return pb.ServerLiveResponse(live=False)
        return pb.ServerLiveResponse(live=True)

    @_answering_errors
    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self.loader.ready)

    @_answering_errors
    def ModelReady(self, request, context):
        model = dataplane.find_model(self.loader, request.name)
        dataplane.check_version(model, request.version or None)
        return pb.ModelReadyResponse(ready=self.loader.ready)

    @_answering_errors
    def ServerMetadata(self, request, context):
        meta = dataplane.server_metadata()
        return pb.ServerMetadataResponse(name=meta.name, version=meta.version, extensions=meta.extensions)

    @_answering_errors
    def ModelMetadata(self, request, context):
        meta = dataplane.model_metadata(self.loader, request.name, request.version or None)
        answer = pb.ModelMetadataResponse(name=meta.name, versions=meta.versions, platform=meta.platform)
        for tensors, field in ((meta.inputs, answer.inputs), (meta.outputs, answer.outputs)):
            for tensor in tensors:
                field.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        return answer

    @_answering_errors
    def ModelInfer(self, request, context):
        model = dataplane.infer_model(self.loader, request.model_name, request.model_version or None)
        arrays = decode_inputs(request, model.inputs)
        wanted = dataplane.output_names(model, [o.name for o in request.outputs])
        outputs = dataplane.infer_blocking(self.loader, model, arrays, wanted)
        answer = pb.ModelInferResponse(model_name=model.name, model_version=model.version, id=request.id)
        for name, array in outputs.items():
            array = np.asarray(array)
            answer.outputs.add(name=name, datatype=datatype_of(name, array), shape=list(array.shape))
            answer.raw_output_contents.append(to_raw(array))
        return answer


def start_server(
    loader: ModelLoader, host: str, port: int, max_message_bytes: int, threads: int = 4
) -> grpc.Server:
    """Binds ``host:port`` and serves every RPC of the service (the unimplemented ones as such)."""
    server = grpc.server(
        ThreadPoolExecutor(threads, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", -1),
        ],
    )
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(loader), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot bind the gRPC port {address}")
    server.start()
    log.info("gRPC %s listening on %s", SERVICE, address)
    return server
