"""V2 JSON tensors to numpy and back, checked against the model's declared inputs."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from runtimes.fastapi.errors import InvalidInput
from runtimes.fastapi.model import TensorSpec
from runtimes.fastapi.protocol import RequestInput
from runtimes.fastapi.tensors import decode_inputs, encode_output

IMAGE = (TensorSpec("image", "UINT8", (-1, -1, 3)),)


def request(datatype="UINT8", shape=(1, 2, 3), data=None, name="image"):
    data = list(range(6)) if data is None else data
    return [RequestInput(name=name, datatype=datatype, shape=list(shape), data=data)]


def test_flat_and_nested_data_decode_alike():
    flat = decode_inputs(request(), IMAGE)["image"]
    nested = decode_inputs(request(data=[[[0, 1, 2], [3, 4, 5]]]), IMAGE)["image"]
    assert flat.dtype == np.uint8 and flat.shape == (1, 2, 3)
    assert np.array_equal(flat, nested)


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        (request(data=[0, 1, 2, 3, 4, 300]), "values must lie in [0, 255]"),
        (request(data=[0, 1, 2, 3, 4, -1]), "values must lie in [0, 255]"),
        (request(data=[0, 1, 2, 3, 4, 5.5]), "must be integers"),
        (request(data=[True] * 6), "must be integers"),
        (request(shape=(2, 3)), "does not fit"),
        (request(shape=(1, 2, 4)), "does not fit"),
        (request(shape=(2, 2, 3)), "needs 12 elements, data has 6"),
        (request(datatype="FP32"), "the model takes UINT8"),
        (request(name="img"), "unknown input 'img'"),
        (request() + request(), "given twice"),
        ([], "missing input(s) ['image']"),
    ],
)
def test_bad_tensors(inputs, fragment):
    with pytest.raises(InvalidInput) as raised:
        decode_inputs(inputs, IMAGE)
    assert fragment in raised.value.message


@pytest.mark.parametrize(
    ("datatype", "data", "dtype"),
    [
        ("BOOL", [True, False], np.bool_),
        ("INT64", [-(2**40), 2**40], np.int64),
        ("FP16", [0.5, 1], np.float16),
        ("FP64", [1e300, -1], np.float64),
        ("BYTES", ["a", "b"], np.object_),
    ],
)
def test_datatypes(datatype, data, dtype):
    spec = (TensorSpec("t", datatype, (2,)),)
    array = decode_inputs([RequestInput(name="t", datatype=datatype, shape=[2], data=data)], spec)["t"]
    assert array.dtype == dtype and array.tolist() == data


def test_encode_output_round_trip():
    out = encode_output("boxes", np.arange(8, dtype=np.float32).reshape(2, 4))
    assert (out.shape, out.datatype, out.data) == ([2, 4], "FP32", [0, 1, 2, 3, 4, 5, 6, 7])
    assert encode_output("empty", np.zeros((0, 4), np.float32)).shape == [0, 4]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
