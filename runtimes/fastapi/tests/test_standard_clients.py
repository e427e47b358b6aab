"""Triton's own clients, unchanged, against the real server (uvicorn + the gRPC service, subprocess).

``tritonclient.http`` sends its JSON with no Content-Type and asks for binary outputs by default;
``tritonclient.grpc`` sends raw_input_contents. Both must get exactly what Triton would answer.
"""

from __future__ import annotations

import gzip
import json
import sys

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from runtimes.fastapi.tests.conftest import TOY_HANDLER
from runtimes.fastapi.tests.server_process import ServerProcess, running_server

X = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerProcess:
    tmp = tmp_path_factory.mktemp("clients")
    gate = tmp / "gate"
    gate.write_text("open")
    settings = {
        "MODEL_NAME": "toy",
        "MODEL_VERSION": "7",
        "MODEL_HANDLER": TOY_HANDLER,
        "MODEL_PATH": str(gate),
    }
    with running_server(settings, tmp, wait_for="/ready") as server:
        yield server


@pytest.fixture(scope="module")
def http(server):
    client = httpclient.InferenceServerClient(f"127.0.0.1:{server.port}")
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc(server):
    client = grpcclient.InferenceServerClient(server.grpc_target)
    yield client
    client.close()


def protocol_inputs(protocol, binary: bool):
    x = protocol.InferInput("x", list(X.shape), "FP32")
    if protocol is httpclient:
        x.set_data_from_numpy(X, binary_data=binary)
    else:
        x.set_data_from_numpy(X)
    return [x]


@pytest.mark.parametrize("protocol", [httpclient, grpcclient], ids=["http", "grpc"])
def test_health_and_metadata(protocol, http, grpc):
    client = http if protocol is httpclient else grpc
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("toy") and client.is_model_ready("toy", "7")
    assert not _answers(lambda: client.is_model_ready("toy", "8"))
    as_json = {"as_json": True} if protocol is grpcclient else {}
    meta = client.get_model_metadata("toy", "7", **as_json)
    if protocol is grpcclient:
        for tensor in meta["inputs"] + meta["outputs"]:  # proto3 JSON writes int64 as strings
            tensor["shape"] = [int(d) for d in tensor["shape"]]
    assert meta["name"] == "toy" and meta["versions"] == ["7"]
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]
    assert [o["name"] for o in meta["outputs"]] == ["sum", "count"]
    assert "binary_tensor_data" in client.get_server_metadata(**as_json)["extensions"]


def _answers(call) -> bool:
    """False when the call is refused (tritonclient raises for a non-200 answer)."""
    try:
        return bool(call())
    except InferenceServerException:
        return False


@pytest.mark.parametrize(
    ("protocol", "binary"),
    [(httpclient, True), (httpclient, False), (grpcclient, True)],
    ids=["http-binary", "http-json", "grpc"],
)
@pytest.mark.parametrize("version", ["", "7"])
def test_infer(protocol, binary, version, http, grpc):
    client = http if protocol is httpclient else grpc
    outputs = None
    if protocol is httpclient:
        outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("sum", "count")]
    result = client.infer(
        "toy", protocol_inputs(protocol, binary), model_version=version, outputs=outputs, request_id="r1"
    )
    np.testing.assert_array_equal(result.as_numpy("sum"), np.array([6, 15], dtype=np.float32))
    np.testing.assert_array_equal(result.as_numpy("count"), np.array([2], dtype=np.int64))
    response = result.get_response()
    if protocol is httpclient:
        assert response["id"] == "r1" and response["model_version"] == "7"
        sizes = [o.get("parameters", {}).get("binary_data_size") for o in response["outputs"]]
        assert sizes == ([8, 8] if binary else [None, None])
    else:
        assert response.id == "r1" and response.model_version == "7"


def test_http_defaults_binary_outputs_and_gzip(http):
    """No outputs named: tritonclient asks binary_data_output; a gzip-compressed request body."""
    result = http.infer("toy", protocol_inputs(httpclient, True), request_compression_algorithm="gzip")
    assert result.as_numpy("sum").tolist() == [6, 15]
    assert all("binary_data_size" in o["parameters"] for o in result.get_response()["outputs"])


@pytest.mark.parametrize("protocol", [httpclient, grpcclient], ids=["http", "grpc"])
def test_errors_reach_the_client(protocol, http, grpc):
    client = http if protocol is httpclient else grpc
    wrong = protocol.InferInput("x", [2, 2], "FP32")
    wrong.set_data_from_numpy(np.zeros((2, 2), np.float32))
    with pytest.raises(InferenceServerException, match="does not fit the model's"):
        client.infer("toy", [wrong])
    with pytest.raises(InferenceServerException, match="'nope' is not served here"):
        client.infer("nope", protocol_inputs(protocol, True))
    with pytest.raises(InferenceServerException, match="version '3' is not served"):
        client.infer("toy", protocol_inputs(protocol, True), model_version="3")
    if protocol is grpcclient:
        with pytest.raises(InferenceServerException) as raised:
            client.infer("toy", [wrong])
        assert raised.value.status() == "StatusCode.INVALID_ARGUMENT"


@pytest.mark.parametrize(
    "call",
    [
        lambda client: client.get_model_config("toy"),
        lambda client: client.get_inference_statistics("toy"),
        lambda client: client.get_model_repository_index(),
        lambda client: client.load_model("toy"),
    ],
    ids=["ModelConfig", "ModelStatistics", "RepositoryIndex", "RepositoryModelLoad"],
)
def test_rpcs_the_platform_does_not_offer_are_unimplemented(grpc, call):
    """Triton's service has more RPCs than the protocol's; those answer UNIMPLEMENTED, not a crash."""
    with pytest.raises(InferenceServerException) as raised:
        call(grpc)
    assert raised.value.status() == "StatusCode.UNIMPLEMENTED", raised.value


def test_bad_binary_body_is_a_400(server):
    import httpx

    header = json.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [2, 3], "datatype": "FP32", "parameters": {"binary_data_size": 24}}
            ]
        }
    ).encode()
    with httpx.Client(base_url=server.base_url) as client:
        short = client.post(
            "/v2/models/toy/infer",
            content=header + bytes(10),
            headers={"Inference-Header-Content-Length": str(len(header))},
        )
        assert short.status_code == 400 and "runs past" in short.json()["error"]
        bomb = client.post(
            "/v2/models/toy/infer",
            content=gzip.compress(b" " * 30_000_000),
            headers={"Content-Encoding": "gzip"},
        )
        assert bomb.status_code == 413, bomb.text


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
