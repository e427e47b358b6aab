"""KServe's own Python clients (PyPI ``kserve``), unchanged, against the real server.

``InferenceRESTClient`` (V2 REST, JSON and the binary extension) and ``InferenceGRPCClient``
(grpc_predict_v2) for health, readiness and inference on the toy model.

The clients run in a child process: kserve's generated protos and tritonclient's both register
``inference.*`` messages in protobuf's default pool, so the two packages cannot be imported into
one process (the pytest run that also imports tritonclient), whatever the server does.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runtimes.fastapi.tests.conftest import TOY_HANDLER
from runtimes.fastapi.tests.server_process import ServerProcess, running_server

CLIENT = """
import asyncio, json, sys
import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

base_url, grpc_target, mode = sys.argv[1:4]
X = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)


def request(binary):
    x = InferInput(name="x", shape=list(X.shape), datatype="FP32")
    x.set_data_from_numpy(X, binary_data=binary)
    return InferRequest(model_name="toy", infer_inputs=[x], request_id="k1")


def summary(response, checks):
    outputs = {o.name: o.as_numpy().tolist() for o in response.outputs}
    return {"checks": checks, "id": response.id, "model": response.model_name, "outputs": outputs}


async def rest(binary):
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    try:
        checks = [
            await client.is_server_live(base_url),
            await client.is_server_ready(base_url),
            await client.is_model_ready(base_url, "toy"),
            not await client.is_model_ready(base_url, "nope"),
        ]
        return summary(await client.infer(base_url, request(binary), model_name="toy"), checks)
    finally:
        await client.close()


async def grpc():
    client = InferenceGRPCClient(grpc_target, retries=0)
    try:
        checks = [await client.is_server_live(), await client.is_server_ready()]
        checks.append(await client.is_model_ready("toy"))
        return summary(await client.infer(request(False)), checks)
    finally:
        await client.close()


run = {"rest-json": lambda: rest(False), "rest-binary": lambda: rest(True), "grpc": grpc}[mode]
print(json.dumps(asyncio.run(run())))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerProcess:
    tmp = tmp_path_factory.mktemp("kserve")
    gate = tmp / "gate"
    gate.write_text("open")
    settings = {"MODEL_NAME": "toy", "MODEL_VERSION": "7", "MODEL_HANDLER": TOY_HANDLER}
    with running_server({**settings, "MODEL_PATH": str(gate)}, tmp, wait_for="/ready") as server:
        yield server


@pytest.mark.parametrize("mode", ["rest-json", "rest-binary", "grpc"])
def test_kserve_client(server, mode):
    result = subprocess.run(
        [sys.executable, "-c", CLIENT, server.base_url, server.grpc_target, mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(answer["checks"]), answer
    assert answer["id"] == "k1" and answer["model"] == "toy"
    assert answer["outputs"] == {"sum": [6.0, 15.0], "count": [2]}


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
