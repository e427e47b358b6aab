"""The V2 REST routes and bodies against KServe's own data models of the protocol.

KServe's server declares the open inference protocol's REST bodies as pydantic models
(``kserve.protocol.rest.v2_datamodels``, PyPI ``kserve`` 0.21.0 from the tools lock); every route
below is called on the real server and its JSON answer is validated by that module, strictly (no
type coercion) and with nothing left over (every field we send is one KServe's model declares).
The request bodies the test sends are validated as KServe's ``InferenceRequest`` first, so the test
speaks the protocol too.

KServe's models do not describe error bodies: for the 400 and 404 answers the protocol's
``{"error": "<message>"}`` shape is checked directly here.

The validator runs in a child process: kserve's generated protos and tritonclient's both register
``inference.*`` in protobuf's default pool, so the two packages cannot share the pytest process.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runtimes.fastapi.tests.conftest import TOY_HANDLER
from runtimes.fastapi.tests.server_process import ServerProcess, running_server

# Reads [model, json text] lines and answers each with "ok" or the reason it does not conform.
VALIDATOR = """
import json, sys
from kserve.protocol.rest import v2_datamodels

for line in sys.stdin:
    model, text = json.loads(line)
    try:
        parsed = getattr(v2_datamodels, model).model_validate_json(text, strict=True)
        again = parsed.model_dump(mode="json", exclude_unset=True)
        sent = json.loads(text)
        verdict = "ok" if again == sent else f"fields KServe's {model} does not declare: {sent} -> {again}"
    except Exception as error:
        verdict = f"{type(error).__name__}: {error}"
    print(json.dumps(verdict), flush=True)
"""

REQUEST = {
    "id": "42",
    "parameters": {"note": "parameters map names to scalars"},
    "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [[1, 2, 3], [4, 5, 6]]}],
    "outputs": [{"name": "sum"}, {"name": "count", "parameters": {"binary_data": False}}],
}

# Every V2 route the server offers, with the KServe model its 200 answer must be.
ROUTES = [
    ("GET", "/v2", "ServerMetadataResponse"),
    ("GET", "/v2/", "ServerMetadataResponse"),
    ("GET", "/v2/health/live", "ServerLiveResponse"),
    ("GET", "/v2/health/ready", "ServerReadyResponse"),
    ("GET", "/v2/models/toy", "ModelMetadataResponse"),
    ("GET", "/v2/models/toy/versions/7", "ModelMetadataResponse"),
    ("GET", "/v2/models/toy/ready", "ModelReadyResponse"),
    ("GET", "/v2/models/toy/versions/7/ready", "ModelReadyResponse"),
    ("POST", "/v2/models/toy/infer", "InferenceResponse"),
    ("POST", "/v2/models/toy/versions/7/infer", "InferenceResponse"),
]


class KServeModels:
    """One long-lived child process holding KServe's data models."""

    def __init__(self):
        self.child = subprocess.Popen(
            [sys.executable, "-c", VALIDATOR],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def verdict(self, model: str, text: str) -> str:
        self.child.stdin.write(json.dumps([model, text]) + "\n")
        self.child.stdin.flush()
        line = self.child.stdout.readline()
        assert line, f"the validator exited (code {self.child.poll()})"
        return json.loads(line)

    def close(self):
        self.child.stdin.close()
        self.child.wait(timeout=30)


@pytest.fixture(scope="module")
def kserve_models():
    models = KServeModels()
    yield models
    models.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerProcess:
    tmp = tmp_path_factory.mktemp("spec")
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


def test_the_validator_rejects_what_does_not_conform(kserve_models):
    """The check can fail: a missing field, a coerced type and an undeclared field are each caught."""
    assert kserve_models.verdict("ServerLiveResponse", '{"live": true}') == "ok"
    assert kserve_models.verdict("ServerLiveResponse", '{"status": "live"}') != "ok"
    assert kserve_models.verdict("ServerLiveResponse", '{"live": "yes"}') != "ok"
    assert kserve_models.verdict("ServerReadyResponse", '{"ready": true, "extra": 1}') != "ok"


def test_the_request_sent_is_kserves_inference_request(kserve_models):
    assert kserve_models.verdict("InferenceRequest", json.dumps(REQUEST)) == "ok"


@pytest.mark.parametrize(("method", "path", "model"), ROUTES, ids=lambda v: v if "/" in v else "")
def test_every_route_answers_kserves_model(server, kserve_models, method, path, model):
    body = REQUEST if method == "POST" else None
    with server.client() as client:
        answer = client.request(method, path, json=body)
    assert answer.status_code == 200, answer.text
    assert kserve_models.verdict(model, answer.text) == "ok"


def test_the_app_documents_every_route(server):
    """FastAPI's own OpenAPI lists each route (the slash spelling of /v2 aside) with its method."""
    with server.client() as client:
        ours = client.get("/openapi.json").json()["paths"]
    for method, path, _ in ROUTES:
        template = path.replace("/toy", "/{name}").replace("/versions/7", "/versions/{version}")
        template = template.rstrip("/")
        assert method.lower() in ours.get(template, {}), f"{method} {template} missing from /openapi.json"


def assert_protocol_error(answer, status: int, fragment: str) -> None:
    """KServe's models have no error body; the protocol's is ``{"error": "<message>"}``, checked here."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert isinstance(body, dict) and list(body) == ["error"], body
    assert isinstance(body["error"], str) and fragment in body["error"], body


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]},
            "does not fit",
        ),
        (
            {"inputs": [{"name": "y", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
            "unknown input",
        ),
        ({"inputs": "not a list"}, "inputs"),
    ],
)
def test_infer_errors_are_the_protocols_400(server, body, fragment):
    with server.client() as client:
        answer = client.post("/v2/models/toy/versions/7/infer", json=body)
    assert_protocol_error(answer, 400, fragment)


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/v2/models/nope/versions/7", "nope"),
        ("/v2/models/toy/versions/8", "8"),
        ("/v2/models/nope/ready", "nope"),
    ],
)
def test_unknown_model_or_version_is_a_404(server, path, fragment):
    with server.client() as client:
        answer = client.get(path)
    assert_protocol_error(answer, 404, fragment)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
