"""The V2 REST infer body as standard clients send it, and the answer in the form they asked for.

``tritonclient.http`` posts its JSON without a Content-Type, so the body is read raw and parsed
here rather than by FastAPI. With the binary tensor extension (Triton's, which KServe's client
also speaks) the body is the JSON header, ``Inference-Header-Content-Length`` bytes long, followed
by each binary input's bytes in the order of ``inputs`` (``parameters.binary_data_size`` each).
Outputs come back binary when the output's ``parameters.binary_data`` is true, or, for outputs
that do not say, when the request's ``parameters.binary_data_output`` is.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np
from pydantic import ValidationError

from runtimes.fastapi.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from runtimes.fastapi.model import TensorSpec
from runtimes.fastapi.protocol import InferenceRequest, InferenceResponse, ResponseOutput
from runtimes.fastapi.tensors import (
    check_tensor,
    datatype_of,
    from_json,
    from_raw,
    require_all,
    to_json_data,
    to_raw,
)

HEADER_LENGTH = "inference-header-content-length"
BINARY_CONTENT_TYPE = "application/octet-stream"
# zlib's wbits: gzip framing, and deflate as HTTP means it (zlib framing).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def decompress(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """The body without its Content-Encoding (tritonclient's request_compression_algorithm)."""
    if not encoding or encoding == "identity":
        return body
    if encoding not in _WBITS:
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; use gzip or deflate")
    inflater = zlib.decompressobj(_WBITS[encoding])
    try:
        # Bounded, so a small compressed bomb cannot grow past the body limit.
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as error:
        raise InvalidInput(f"body is not valid {encoding} data: {error}") from None
    if len(data) > max_bytes or inflater.unconsumed_tail:
        raise PayloadTooLarge(
            f"decompressed body is over the {max_bytes}-byte limit (SERVER_MAX_UPLOAD_BYTES)"
        )
    return data


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors()[:10]:
        where = ".".join(str(part) for part in item["loc"])
        problems.append(f"{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(problems)


def parse_request(body: bytes, headers: Mapping[str, str]) -> tuple[InferenceRequest, memoryview]:
    """The request's JSON part, validated, and the binary part that follows it (maybe empty)."""
    declared = headers.get(HEADER_LENGTH)
    split = len(body)
    if declared is not None:
        if not declared.isdigit() or int(declared) > len(body):
            raise InvalidInput(
                f"Inference-Header-Content-Length {declared!r} must be a byte count within the "
                f"{len(body)}-byte body"
            )
        split = int(declared)
    try:
        request = InferenceRequest.model_validate_json(body[:split])
    except ValidationError as error:
        raise InvalidInput(f"invalid inference request: {_describe(error)}") from None
    return request, memoryview(body)[split:]


def _binary_size(parameters: dict | None, name: str) -> int | None:
    size = (parameters or {}).get("binary_data_size")
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidInput(f"input {name!r}: binary_data_size must be a byte count, got {size!r}")
    return size


def decode_inputs(
    request: InferenceRequest, binary: memoryview, specs: tuple[TensorSpec, ...]
) -> dict[str, np.ndarray]:
    """Each input as an array, from its JSON data or its slice of the binary part."""
    by_name = {spec.name: spec for spec in specs}
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in request.inputs:
        check_tensor(tensor.name, tensor.datatype, tensor.shape, by_name)
        if tensor.name in arrays:
            raise InvalidInput(f"input {tensor.name!r} is given twice")
        size = _binary_size(tensor.parameters, tensor.name)
        if size is not None:
            if tensor.data is not None:
                raise InvalidInput(f"input {tensor.name!r} has both data and binary_data_size")
            if offset + size > len(binary):
                raise InvalidInput(
                    f"input {tensor.name!r}: binary_data_size {size} runs past the body's "
                    f"{len(binary)} bytes of binary data"
                )
            raw, offset = binary[offset : offset + size], offset + size
            arrays[tensor.name] = from_raw(tensor.name, tensor.datatype, tensor.shape, raw)
        elif tensor.data is None:
            raise InvalidInput(f"input {tensor.name!r} has neither data nor parameters.binary_data_size")
        else:
            arrays[tensor.name] = from_json(tensor.name, tensor.datatype, tensor.shape, tensor.data)
    if offset != len(binary):
        raise InvalidInput(f"{len(binary) - offset} bytes of binary data follow the inputs unused")
    require_all(arrays, by_name)
    return arrays


def _wants_binary(request: InferenceRequest, name: str) -> bool:
    asked = next((o.parameters for o in request.outputs or () if o.name == name), None) or {}
    if "binary_data" in asked:
        return bool(asked["binary_data"])
    return bool((request.parameters or {}).get("binary_data_output", False))


def encode_response(
    request: InferenceRequest, model_name: str, model_version: str, outputs: dict[str, np.ndarray]
) -> tuple[bytes, dict[str, str]]:
    """The answer's body and headers: plain JSON, or the JSON header plus binary outputs."""
    described, blobs = [], []
    for name, array in outputs.items():
        array = np.asarray(array)
        output = ResponseOutput(name=name, shape=list(array.shape), datatype=datatype_of(name, array))
        if _wants_binary(request, name):
            blobs.append(to_raw(array))
            output.parameters = {"binary_data_size": len(blobs[-1])}
        else:
            output.data = to_json_data(array)
        described.append(output)
    response = InferenceResponse(
        model_name=model_name, model_version=model_version, id=request.id, outputs=described
    )
    header = response.model_dump_json(exclude_none=True).encode()
    if not blobs:
        return header, {"content-type": "application/json"}
    headers = {"content-type": BINARY_CONTENT_TYPE, HEADER_LENGTH: str(len(header))}
    return b"".join([header, *blobs]), headers
