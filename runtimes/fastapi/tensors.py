"""V2 JSON tensors to numpy arrays and back, checking each against the model's declared inputs.

Every way a tensor can be wrong (unknown name, wrong datatype, shape that does not match the data
or the model, values out of the datatype's range) becomes an ``InvalidInput`` naming the tensor.
"""

from __future__ import annotations

import math

import numpy as np

from runtimes.fastapi.errors import InvalidInput
from runtimes.fastapi.model import TensorSpec
from runtimes.fastapi.protocol import RequestInput, ResponseOutput

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


def _check_shape(tensor: RequestInput, spec: TensorSpec) -> None:
    if any(dim < 0 for dim in tensor.shape):
        raise InvalidInput(f"input {tensor.name!r}: shape {tensor.shape} has a negative dimension")
    if len(tensor.shape) != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape, tensor.shape, strict=True)
    ):
        raise InvalidInput(
            f"input {tensor.name!r}: shape {tensor.shape} does not fit the model's {list(spec.shape)} "
            "(-1 is any size)"
        )


def _to_array(tensor: RequestInput) -> np.ndarray:
    """Builds the array in a wide type first, so out-of-range values are caught, not wrapped."""
    dtype = NUMPY_DTYPES[tensor.datatype]
    try:
        if tensor.datatype == "BYTES":
            wide = np.asarray(tensor.data, dtype=np.object_)
        elif tensor.datatype == "BOOL":
            wide = np.asarray(tensor.data)
            if wide.size and wide.dtype != np.bool_:
                raise ValueError("BOOL data must be true/false")
        elif dtype.kind in "ui":
            wide = np.asarray(tensor.data)
            if wide.size and wide.dtype.kind not in "ui":
                raise ValueError(f"{tensor.datatype} data must be integers")
            info = np.iinfo(dtype)
            if wide.size and (wide.min() < info.min or wide.max() > info.max):
                raise ValueError(f"values must lie in [{info.min}, {info.max}] for {tensor.datatype}")
        else:
            wide = np.asarray(tensor.data)
            if wide.size and (wide.dtype.kind not in "uif" or wide.dtype == np.bool_):
                raise ValueError(f"{tensor.datatype} data must be numbers")
    except ValueError as error:
        # Also what numpy raises for ragged nested lists.
        raise InvalidInput(f"input {tensor.name!r}: {error}") from None
    expected = math.prod(tensor.shape)
    if wide.size != expected:
        raise InvalidInput(
            f"input {tensor.name!r}: shape {tensor.shape} needs {expected} elements, data has {wide.size}"
        )
    return wide.reshape(tensor.shape).astype(dtype, copy=False)


def decode_inputs(inputs: list[RequestInput], specs: tuple[TensorSpec, ...]) -> dict[str, np.ndarray]:
    """Checks the request's tensors against the model's and returns them as arrays by name."""
    by_name = {spec.name: spec for spec in specs}
    arrays: dict[str, np.ndarray] = {}
    for tensor in inputs:
        spec = by_name.get(tensor.name)
        if spec is None:
            raise InvalidInput(f"unknown input {tensor.name!r}; the model takes {sorted(by_name)}")
        if tensor.name in arrays:
            raise InvalidInput(f"input {tensor.name!r} is given twice")
        if tensor.datatype != spec.datatype:
            raise InvalidInput(
                f"input {tensor.name!r}: datatype {tensor.datatype}, the model takes {spec.datatype}"
            )
        _check_shape(tensor, spec)
        arrays[tensor.name] = _to_array(tensor)
    missing = sorted(set(by_name) - set(arrays))
    if missing:
        raise InvalidInput(f"missing input(s) {missing}")
    return arrays


def encode_output(name: str, array: np.ndarray) -> ResponseOutput:
    array = np.asarray(array)
    datatype = V2_DATATYPES.get(array.dtype)
    if datatype is None:
        raise TypeError(f"output {name!r} has dtype {array.dtype}, which V2 has no name for")
    data = array.reshape(-1).tolist()
    if datatype == "BYTES":
        data = [item.decode() if isinstance(item, bytes) else item for item in data]
    return ResponseOutput(name=name, shape=list(array.shape), datatype=datatype, data=data)
