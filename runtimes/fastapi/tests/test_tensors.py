"""V2 tensors (JSON data, binary extension, raw bytes) to numpy and back, checked against the model."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest

from runtimes.fastapi import rest_v2
from runtimes.fastapi.errors import InvalidInput, PayloadTooLarge
from runtimes.fastapi.model import TensorSpec
from runtimes.fastapi.protocol import InferenceRequest
from runtimes.fastapi.tensors import from_raw, to_raw

IMAGE = (TensorSpec("image", "UINT8", (-1, -1, 3)),)


def tensor(datatype="UINT8", shape=(1, 2, 3), data=None, name="image"):
    data = list(range(6)) if data is None else data
    return {"name": name, "datatype": datatype, "shape": list(shape), "data": data}


def decode(inputs, specs=IMAGE, binary=b""):
    request = InferenceRequest.model_validate({"inputs": inputs} if inputs else {"inputs": [tensor()]})
    if not inputs:
        request.inputs = []
    return rest_v2.decode_inputs(request, memoryview(binary), specs)


def test_flat_and_nested_data_decode_alike():
    flat = decode([tensor()])["image"]
    nested = decode([tensor(data=[[[0, 1, 2], [3, 4, 5]]])])["image"]
    assert flat.dtype == np.uint8 and flat.shape == (1, 2, 3)
    assert np.array_equal(flat, nested)


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ([tensor(data=[0, 1, 2, 3, 4, 300])], "values must lie in [0, 255]"),
        ([tensor(data=[0, 1, 2, 3, 4, -1])], "values must lie in [0, 255]"),
        ([tensor(data=[0, 1, 2, 3, 4, 5.5])], "must be integers"),
        ([tensor(data=[True] * 6)], "must be integers"),
        ([tensor(shape=(2, 3))], "does not fit"),
        ([tensor(shape=(1, 2, 4))], "does not fit"),
        ([tensor(shape=(2, 2, 3))], "needs 12 elements, data has 6"),
        ([tensor(datatype="FP32")], "the model takes UINT8"),
        ([tensor(name="img")], "unknown input 'img'"),
        ([tensor(), tensor()], "given twice"),
        ([], "missing input(s) ['image']"),
    ],
)
def test_bad_tensors(inputs, fragment):
    with pytest.raises(InvalidInput) as raised:
        decode(inputs)
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
    array = decode([tensor(datatype, (2,), data, "t")], spec)["t"]
    assert array.dtype == dtype and array.tolist() == data


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype=np.uint8).reshape(1, 2, 3),
        np.array([[1.5, -2.0], [3.25, 1e-3]], dtype=np.float16),
        np.array([-(2**40), 7], dtype=np.int64),
        np.array([True, False, True]),
        np.array([b"", b"caf\xc3\xa9", b"x" * 300], dtype=np.object_),
    ],
    ids=lambda a: str(a.dtype),
)
def test_raw_round_trip(array):
    back = from_raw("t", rest_v2.datatype_of("t", array), array.shape, to_raw(array))
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tolist() == array.tolist()


def test_bytes_raw_form_is_length_prefixed():
    assert (
        to_raw(np.array([b"ab", b"c"], dtype=np.object_))
        == struct.pack("<I", 2) + b"ab" + struct.pack("<I", 1) + b"c"
    )


def binary_input(size, **extra):
    return {
        "name": "image",
        "datatype": "UINT8",
        "shape": [1, 2, 3],
        "parameters": {"binary_data_size": size},
        **extra,
    }


def test_binary_input_is_read_after_the_json_header():
    header = json.dumps({"inputs": [binary_input(6)]}).encode()
    request, binary = rest_v2.parse_request(
        header + bytes(range(6)), {rest_v2.HEADER_LENGTH: str(len(header))}
    )
    assert rest_v2.decode_inputs(request, binary, IMAGE)["image"].tolist() == [[[0, 1, 2], [3, 4, 5]]]


@pytest.mark.parametrize(
    ("inputs", "binary", "fragment"),
    [
        ([binary_input(6)], b"\0" * 5, "runs past"),
        ([binary_input(6)], b"\0" * 7, "1 bytes of binary data follow the inputs unused"),
        ([binary_input(5)], b"\0" * 5, "needs 6 bytes, got 5"),
        ([binary_input(-1)], b"", "must be a byte count"),
        ([binary_input(6, data=[0] * 6)], b"\0" * 6, "both data and binary_data_size"),
    ],
)
def test_bad_binary_inputs(inputs, binary, fragment):
    request = InferenceRequest.model_validate({"inputs": inputs})
    with pytest.raises(InvalidInput) as raised:
        rest_v2.decode_inputs(request, memoryview(binary), IMAGE)
    assert fragment in raised.value.message


@pytest.mark.parametrize("declared", ["-1", "abc", "999"])
def test_bad_header_length(declared):
    with pytest.raises(InvalidInput, match="Inference-Header-Content-Length"):
        rest_v2.parse_request(b'{"inputs": []}', {rest_v2.HEADER_LENGTH: declared})


def test_outputs_binary_only_where_asked():
    request = InferenceRequest.model_validate(
        {
            "id": "7",
            "inputs": [tensor()],
            "parameters": {"binary_data_output": True},
            "outputs": [{"name": "a", "parameters": {"binary_data": False}}, {"name": "b"}],
        }
    )
    outputs = {"a": np.array([1, 2], np.int64), "b": np.zeros((2, 2), np.float32)}
    body, headers = rest_v2.encode_response(request, "m", "1", outputs)
    split = int(headers[rest_v2.HEADER_LENGTH])
    header = json.loads(body[:split])
    assert header["id"] == "7"
    a, b = header["outputs"]
    assert a == {"name": "a", "shape": [2], "datatype": "INT64", "data": [1, 2]}
    assert b == {"name": "b", "shape": [2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}}
    assert body[split:] == bytes(16)


def test_decompress_is_bounded():
    import gzip

    assert rest_v2.decompress(gzip.compress(b"{}"), "gzip", 10) == b"{}"
    with pytest.raises(PayloadTooLarge):
        rest_v2.decompress(gzip.compress(b"\0" * 1000), "gzip", 100)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
