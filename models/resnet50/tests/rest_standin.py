"""A loopback stand-in for TF Serving's REST API over the real SavedModel, for the client's tests.

TF Serving itself cannot run on this machine (no binary: no Debian package, nothing on PyPI), and
this does not replace running it on a cluster. It serves the three endpoints the client uses, built
from real parts: the exported signature computes the predictions, and the status and metadata
answers are TF Serving's own protos printed with the JSON options of
tensorflow_serving/model_servers/http_rest_api_util.cc (tag 2.20.0). Request checking follows the
REST API's documented row format; error texts are this file's own, not the server's.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

SIGNATURE = "serving_default"


def metadata_answer(saved_model_pb: Path, model: str, version: int) -> dict:
    """GET /v1/models/<m>/metadata for this SavedModel: ModelSpec and SignatureDefMap as JSON with
    proto field names and every field, joined as {"model_spec": ..., "metadata": {"signature_def": ...}}."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

    saved = saved_model_pb2.SavedModel.FromString(saved_model_pb.read_bytes())
    signatures = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in saved.meta_graphs[0].signature_def.items():
        signatures.signature_def[name].CopyFrom(signature)
    spec = model_pb2.ModelSpec(name=model)
    spec.version.value = version
    return {"model_spec": _as_json(spec), "metadata": {"signature_def": _as_json(signatures)}}


def status_answer(version: int) -> dict:
    """GET /v1/models/<m> once the version is loaded: GetModelStatusResponse as JSON."""
    from tensorflow_serving.apis import get_model_status_pb2

    response = get_model_status_pb2.GetModelStatusResponse()
    entry = response.model_version_status.add(version=version)
    entry.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    return _as_json(response)


def _as_json(message) -> dict:
    from google.protobuf import json_format

    options = {"preserving_proto_field_name": True, "always_print_fields_with_no_presence": True}
    return json.loads(json_format.MessageToJson(message, **options))


def tensors_from_instances(body: object, serve) -> dict:
    """A row-format predict body as the signature's tensors; ValueError for anything the signature
    cannot take: unknown or missing input names, non-integers or out-of-range values for an integer
    dtype, or a shape the signature does not accept."""
    import tensorflow as tf

    _, specs = serve.structured_input_signature
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list) or not body["instances"]:
        raise ValueError("the body needs a non-empty 'instances' list")
    if body.get("signature_name", SIGNATURE) != SIGNATURE:
        raise ValueError(f"no signature {body['signature_name']!r}")
    columns: dict[str, list] = {name: [] for name in specs}
    for index, instance in enumerate(body["instances"]):
        if not isinstance(instance, dict) or set(instance) != set(specs):
            raise ValueError(f"instance {index} must name exactly the inputs {sorted(specs)}")
        for name, value in instance.items():
            columns[name].append(value)
    tensors = {}
    for name, values in columns.items():
        spec = specs[name]
        try:
            array = np.asarray(values)
        except ValueError:
            raise ValueError(f"input {name!r}: ragged values") from None
        if spec.dtype.is_integer:
            if array.dtype.kind not in "iu":
                raise ValueError(f"input {name!r}: {spec.dtype.name} values must be JSON integers")
            info = np.iinfo(spec.dtype.as_numpy_dtype)
            if array.min() < info.min or array.max() > info.max:
                raise ValueError(f"input {name!r}: values outside {spec.dtype.name}")
        if not spec.shape.is_compatible_with(array.shape):
            raise ValueError(f"input {name!r}: shape {list(array.shape)} does not fit {spec.shape}")
        tensors[name] = tf.constant(array, dtype=spec.dtype)
    return tensors


class RestStandIn:
    """Serves one model version on 127.0.0.1 (a free port) until ``close()``; use as a context manager."""

    def __init__(self, saved_model_dir: Path, *, model: str, version: int):
        import tensorflow as tf

        self.model, self.version = model, version
        self._serve = tf.saved_model.load(str(saved_model_dir)).signatures[SIGNATURE]
        self._metadata = metadata_answer(saved_model_dir / "saved_model.pb", model, version)
        self._status = status_answer(version)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def __enter__(self) -> RestStandIn:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _answer(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        match = re.fullmatch(r"/v1/models/([^/:]+)(/metadata|:predict)?", path)
        if not match:
            return 404, {"error": f"Malformed request: {method} {path}"}
        if match[1] != self.model:
            return 404, {"error": f"Servable not found for request: Latest({match[1]})"}
        if method == "GET" and match[2] is None:
            return 200, self._status
        if method == "GET" and match[2] == "/metadata":
            return 200, self._metadata
        if method == "POST" and match[2] == ":predict":
            try:
                tensors = tensors_from_instances(json.loads(body), self._serve)
            except ValueError as error:  # json.JSONDecodeError is a ValueError too
                return 400, {"error": str(error)}
            outputs = {name: value.numpy() for name, value in self._serve(**tensors).items()}
            if len(outputs) == 1:  # one output: TF Serving sends its values, not a dict per row
                return 200, {"predictions": next(iter(outputs.values())).tolist()}
            rows = len(next(iter(outputs.values())))
            return 200, {"predictions": [{k: v[i].tolist() for k, v in outputs.items()} for i in range(rows)]}
        return 405, {"error": f"Malformed request: {method} {path}"}

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, payload = standin._answer(method, self.path, self.rfile.read(length))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply("GET")

            def do_POST(self) -> None:
                self._reply("POST")

            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

        return Handler
