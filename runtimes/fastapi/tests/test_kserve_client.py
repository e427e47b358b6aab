"""KServe's own Python clients (PyPI ``kserve``), unchanged, against the real server.

``InferenceRESTClient`` (V2 REST, JSON and the binary extension) and ``InferenceGRPCClient``
(grpc_predict_v2) for health, readiness and inference on the toy model.
"""

from __future__ import annotations

import asyncio
import sys

import numpy as np
import pytest
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

from runtimes.fastapi.tests.conftest import TOY_HANDLER
from runtimes.fastapi.tests.server_process import ServerProcess, running_server

X = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerProcess:
    tmp = tmp_path_factory.mktemp("kserve")
    gate = tmp / "gate"
    gate.write_text("open")
    settings = {"MODEL_NAME": "toy", "MODEL_VERSION": "7", "MODEL_HANDLER": TOY_HANDLER}
    with running_server({**settings, "MODEL_PATH": str(gate)}, tmp, wait_for="/ready") as server:
        yield server


def request(binary: bool) -> InferRequest:
    x = InferInput(name="x", shape=list(X.shape), datatype="FP32")
    x.set_data_from_numpy(X, binary_data=binary)
    return InferRequest(model_name="toy", infer_inputs=[x], request_id="k1")


def outputs(response) -> dict[str, list]:
    return {o.name: o.as_numpy().tolist() for o in response.outputs}


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_rest_client(server, binary):
    async def run():
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
        try:
            assert await client.is_server_live(server.base_url)
            assert await client.is_server_ready(server.base_url)
            assert await client.is_model_ready(server.base_url, "toy")
            assert not await client.is_model_ready(server.base_url, "nope")
            return await client.infer(server.base_url, request(binary), model_name="toy")
        finally:
            await client.close()

    response = asyncio.run(run())
    assert response.id == "k1" and response.model_name == "toy"
    assert outputs(response) == {"sum": [6.0, 15.0], "count": [2]}


def test_grpc_client(server):
    async def run():
        client = InferenceGRPCClient(server.grpc_target, retries=0)
        try:
            assert await client.is_server_live()
            assert await client.is_server_ready()
            assert await client.is_model_ready("toy")
            return await client.infer(request(binary=False))
        finally:
            await client.close()

    response = asyncio.run(run())
    assert response.id == "k1" and response.model_name == "toy"
    assert outputs(response) == {"sum": [6.0, 15.0], "count": [2]}


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
