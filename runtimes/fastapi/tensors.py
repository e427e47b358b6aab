"""V2 tensors to numpy arrays and back, checking each against the model's declared inputs.

Three wire forms meet here: JSON ``data`` (flat or nested, row-major), raw little-endian bytes
(the REST binary tensor extension and gRPC's ``raw_*_contents``), where BYTES elements are each a
4-byte little-endian length followed by that many bytes, and gRPC's typed ``contents``.
Every way a tensor can be wrong (unknown name, wrong datatype, shape that does not match the data
or the model, values out of the datatype's range) becomes an ``InvalidInput`` naming the tensor.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from runtimes.fastapi.errors import InvalidInput
from runtimes.fastapi.model import TensorSpec

NUMPY_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
V2_DATATYPES = {dtype: name for name, dtype in NUMPY_DTYPES.items()}
_LENGTH = struct.Struct("<I")


def check_tensor(name: str, datatype: str, shape: Sequence[int], specs: dict[str, TensorSpec]) -> TensorSpec:
    """The model's spec for input ``name``, once its datatype and shape are known to fit it."""
    spec = specs.get(name)
    if spec is None:
        raise InvalidInput(f"unknown input {name!r}; the model takes {sorted(specs)}")
    if datatype not in NUMPY_DTYPES:
        raise InvalidInput(f"input {name!r}: datatype {datatype!r} is not a V2 datatype")
    if datatype != spec.datatype:
        raise InvalidInput(f"input {name!r}: datatype {datatype}, the model takes {spec.datatype}")
    shape = list(shape)
    if any(dim < 0 for dim in shape):
        raise InvalidInput(f"input {name!r}: shape {shape} has a negative dimension")
    if len(shape) != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape, shape, strict=True)
    ):
        raise InvalidInput(
            f"input {name!r}: shape {shape} does not fit the model's {list(spec.shape)} (-1 is any size)"
        )
    return spec


def _check_count(name: str, shape: Sequence[int], count: int) -> None:
    expected = math.prod(shape)
    if count != expected:
        raise InvalidInput(f"input {name!r}: shape {list(shape)} needs {expected} elements, data has {count}")


def from_json(name: str, datatype: str, shape: Sequence[int], data: Any) -> np.ndarray:
    """Builds the array in a wide type first, so out-of-range values are caught, not wrapped."""
    dtype = NUMPY_DTYPES[datatype]
    try:
        if datatype == "BYTES":
            wide = np.asarray(data, dtype=np.object_)
        elif datatype == "BOOL":
            wide = np.asarray(data)
            if wide.size and wide.dtype != np.bool_:
                raise ValueError("BOOL data must be true/false")
        elif dtype.kind in "ui":
            wide = np.asarray(data)
            if wide.size and wide.dtype.kind not in "ui":
                raise ValueError(f"{datatype} data must be integers")
            info = np.iinfo(dtype)
            if wide.size and (wide.min() < info.min or wide.max() > info.max):
                raise ValueError(f"values must lie in [{info.min}, {info.max}] for {datatype}")
        else:
            wide = np.asarray(data)
            if wide.size and (wide.dtype.kind not in "uif" or wide.dtype == np.bool_):
                raise ValueError(f"{datatype} data must be numbers")
    except ValueError as error:
        # Also what numpy raises for ragged nested lists.
        raise InvalidInput(f"input {name!r}: {error}") from None
    _check_count(name, shape, wide.size)
    return wide.reshape(shape).astype(dtype, copy=False)


def from_raw(name: str, datatype: str, shape: Sequence[int], raw: bytes | memoryview) -> np.ndarray:
    """A tensor from its raw bytes: fixed-size elements, or length-prefixed BYTES elements."""
    if datatype == "BYTES":
        items, view, offset = [], memoryview(raw), 0
        while offset < len(view):
            if offset + 4 > len(view):
                raise InvalidInput(f"input {name!r}: BYTES data ends inside an element's length prefix")
            (length,) = _LENGTH.unpack_from(view, offset)
            offset += 4
            if offset + length > len(view):
                raise InvalidInput(f"input {name!r}: a BYTES element runs past the end of the data")
            items.append(bytes(view[offset : offset + length]))
            offset += length
        _check_count(name, shape, len(items))
        array = np.empty(len(items), dtype=np.object_)
        array[:] = items
        return array.reshape(shape)
    dtype = NUMPY_DTYPES[datatype].newbyteorder("<")
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise InvalidInput(
            f"input {name!r}: shape {list(shape)} of {datatype} needs {expected} bytes, got {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def to_raw(array: np.ndarray) -> bytes:
    """The raw little-endian bytes of ``array`` (BYTES: each element length-prefixed)."""
    if array.dtype == np.object_:
        parts = []
        for item in array.reshape(-1):
            data = item if isinstance(item, bytes) else str(item).encode()
            parts += [_LENGTH.pack(len(data)), data]
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def datatype_of(name: str, array: np.ndarray) -> str:
    datatype = V2_DATATYPES.get(array.dtype)
    if datatype is None:
        raise TypeError(f"output {name!r} has dtype {array.dtype}, which V2 has no name for")
    return datatype


def to_json_data(array: np.ndarray) -> list[Any]:
    data = array.reshape(-1).tolist()
    if array.dtype == np.object_:
        data = [item.decode() if isinstance(item, bytes) else item for item in data]
    return data


def require_all(arrays: dict[str, np.ndarray], specs: dict[str, TensorSpec]) -> None:
    missing = sorted(set(specs) - set(arrays))
    if missing:
        raise InvalidInput(f"missing input(s) {missing}")
