"""gpt2 on the real tritonserver: HTTP, gRPC, dynamic batching, metrics and bad input.

One server for the module (start and stop cost about two seconds), on free loopback ports, with the
repository assembled from the sources (config rendered for KIND_CPU) and the weights artifact.
"""

from __future__ import annotations

import re
import threading
import urllib.request

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from models.gpt2 import client as gpt2_client
from models.gpt2.repository import MODEL_NAME, assemble
from runtimes.triton.local import local_server

pytestmark = pytest.mark.slow  # starts tritonserver and imports torch

PROMPTS = ["The harbour town wakes", "Once upon a time there was a fox"]


@pytest.fixture(scope="module")
def server(gpt2_weights, tmp_path_factory):
    repository = assemble(
        tmp_path_factory.mktemp("model_repository"), gpt2_weights, gpu=False, link_weights=True
    )
    log_file = tmp_path_factory.mktemp("logs") / "tritonserver.log"
    with local_server(repository, log_file=log_file) as running:
        yield running
        # SIGTERM drains and unloads gpt2 (finalize) and exits 0, well inside the exit timeout.
        assert running.stop() == 0, running.log_errors()


def _connected(url):
    protocol, client = gpt2_client.connect(url)
    yield protocol, client
    client.close()  # an open connection would hold up the server's shutdown


@pytest.fixture(scope="module")
def http(server):
    yield from _connected(server.options.http_url)


@pytest.fixture(scope="module")
def grpc(server):
    yield from _connected(server.options.grpc_url)


@pytest.fixture(scope="module")
def reference(gpt2_weights):
    """Greedy generation in this process with plain transformers: what the server must answer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gpt2_weights).eval()
    tokenizer = AutoTokenizer.from_pretrained(gpt2_weights)

    def generate(prompt: str, max_new_tokens: int) -> str:
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as the server's config (cpu_threads): the same float reductions
        try:
            with torch.inference_mode():
                out = model.generate(
                    ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id
                )
        finally:
            torch.set_num_threads(threads)
        return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)

    return generate


def _metric(server, name: str) -> float:
    with urllib.request.urlopen(server.options.metrics_url, timeout=10) as response:
        text = response.read().decode()
    match = re.search(rf'^{name}{{[^}}]*model="{MODEL_NAME}"[^}}]*}} (\S+)$', text, re.MULTILINE)
    assert match, f"{name} for {MODEL_NAME} not in the metrics"
    return float(match[1])


def _counts(http) -> tuple[int, int]:
    """(inferences, executions) so far: fewer executions than inferences means requests were batched."""
    _, client = http
    stats = client.get_inference_statistics(MODEL_NAME)["model_stats"][0]
    return stats["inference_count"], stats["execution_count"]


def test_server_is_live_ready_and_describes_gpt2(http):
    _, client = http
    assert client.is_server_live()
    assert client.is_model_ready(MODEL_NAME)
    metadata = client.get_model_metadata(MODEL_NAME)
    assert {i["name"]: i["datatype"] for i in metadata["inputs"]} == {
        "text": "BYTES",
        "max_new_tokens": "INT32",
        "temperature": "FP32",
    }
    assert [o["name"] for o in metadata["outputs"]] == ["generated_text"]
    config = client.get_model_config(MODEL_NAME)
    assert config["instance_group"][0]["kind"] == "KIND_CPU"
    assert config["dynamic_batching"] is not None


def test_http_answers_what_transformers_generates(http, reference):
    for prompt in PROMPTS:
        [text] = gpt2_client.generate("", [prompt], max_new_tokens=12, client=http)
        assert text == reference(prompt, 12)


def test_grpc_answers_the_same_as_http(http, grpc):
    assert gpt2_client.generate("", PROMPTS, max_new_tokens=10, client=grpc) == gpt2_client.generate(
        "", PROMPTS, max_new_tokens=10, client=http
    )


def test_one_request_with_several_rows_gets_one_text_per_row(http, reference):
    prompts = [*PROMPTS, "", "日本 😀"]  # an empty prompt starts from the end-of-text token
    texts = gpt2_client.generate("", prompts, max_new_tokens=6, client=http)
    assert len(texts) == len(prompts)
    # Rows are left-padded into one generate(); the unpadded rows must match exactly.
    assert texts[1] == reference(prompts[1], 6)


def test_sampling_with_a_temperature_is_served(http):
    texts = gpt2_client.generate("", PROMPTS, max_new_tokens=5, temperature=0.9, client=http)
    assert len(texts) == 2
    assert all(isinstance(t, str) for t in texts)


def test_concurrent_requests_are_dynamically_batched(server, http):
    before_inferences, before_executions = _counts(http)
    results, errors = [], []
    start_together = threading.Barrier(8)

    def one_request(index: int):
        # A client per thread (the HTTP client is not meant to be shared across threads), connected
        # before the barrier so that all eight requests reach the queue at once.
        connection = gpt2_client.connect(server.options.http_url)
        try:
            start_together.wait(30)
            results.append(
                gpt2_client.generate("", [f"request {index}"], max_new_tokens=16, client=connection)
            )
        except Exception as error:  # reported below, with the others
            errors.append(error)
        finally:
            connection[1].close()

    threads = [threading.Thread(target=one_request, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(results) == 8

    inferences, executions = _counts(http)
    assert inferences - before_inferences == 8
    assert executions - before_executions < 8, "no two requests shared an execute(): dynamic batching is off"


def test_metrics_count_successful_requests(http, server):
    before = _metric(server, "nv_inference_request_success")
    for _ in range(3):
        gpt2_client.generate("", ["metrics"], max_new_tokens=2, client=http)
    assert _metric(server, "nv_inference_request_success") == before + 3
    assert _metric(server, "nv_inference_queue_duration_us") > 0


def _raw_text(protocol, values, datatype="BYTES"):
    array = np.array(values, dtype=np.object_ if datatype == "BYTES" else np.int32)
    tensor = protocol.InferInput("text", list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return [tensor]


def _with_tokens(protocol, prompt, max_new_tokens):
    return gpt2_client.make_inputs(protocol, [prompt], max_new_tokens=max_new_tokens)


BAD_REQUESTS = {
    # name: (inputs from the protocol module, model name, what the error must say)
    # Triton's own checks answer these before model.py sees them.
    "empty batch": (
        lambda p: _raw_text(p, np.empty((0, 1), dtype=np.object_)),
        MODEL_NAME,
        "string elements for inference input 'text'",
    ),
    "row without a text": (
        lambda p: _raw_text(p, np.empty((1, 0), dtype=np.object_)),
        MODEL_NAME,
        "unexpected shape for input 'text'",
    ),
    "no text input": (
        lambda p: gpt2_client.make_inputs(p, ["hi"], max_new_tokens=4)[1:],
        MODEL_NAME,
        "missing required input",  # model.py's check: Triton's misses it beside an optional input
    ),
    "more rows than max_batch_size": (
        lambda p: _raw_text(p, [[b"x"]] * 9),
        MODEL_NAME,
        "batch-size must be <= 8",
    ),
    "wrong datatype": (lambda p: _raw_text(p, [[7]], "INT32"), MODEL_NAME, "expects 'BYTES'"),
    # model.py's checks: INVALID_ARG for this request only.
    "non-UTF-8 bytes": (lambda p: _raw_text(p, [[b"ok \xff\xfe"]]), MODEL_NAME, "not valid UTF-8"),
    "max_new_tokens 0": (lambda p: _with_tokens(p, "hi", 0), MODEL_NAME, "max_new_tokens[0] is 0"),
    "max_new_tokens negative": (lambda p: _with_tokens(p, "hi", -3), MODEL_NAME, "must be between 1 and"),
    "max_new_tokens huge": (lambda p: _with_tokens(p, "hi", 2**31 - 1), MODEL_NAME, "must be between 1 and"),
    "negative temperature": (
        lambda p: gpt2_client.make_inputs(p, ["hi"], temperature=-1.0),
        MODEL_NAME,
        "temperature[0] is -1.0",
    ),
    "prompt longer than the context": (lambda p: _with_tokens(p, "harbour " * 300, 8), MODEL_NAME, "context"),
    "unknown model": (lambda p: gpt2_client.make_inputs(p, ["hi"]), "gpt3", "unknown model"),
}


@pytest.mark.parametrize("protocol_name", ["http", "grpc"])
@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_a_clear_error_and_the_server_keeps_serving(case, protocol_name, request):
    protocol, client = request.getfixturevalue(protocol_name)
    make_inputs, model, message = BAD_REQUESTS[case]
    with pytest.raises(InferenceServerException) as raised:
        client.infer(model, make_inputs(protocol))
    assert message in raised.value.message()
    assert "Traceback" not in raised.value.message()
    status = raised.value.status()
    assert status in ("400", "404", "StatusCode.INVALID_ARGUMENT", "StatusCode.NOT_FOUND"), status

    assert len(gpt2_client.generate("", ["still serving"], max_new_tokens=2, client=(protocol, client))) == 1


def test_a_bad_request_does_not_fail_the_good_ones_batched_with_it(server):
    url = server.options.http_url
    outcomes = {}

    def send(name: str, prompt: bytes):
        try:
            outcomes[name] = gpt2_client.generate(url, [prompt], max_new_tokens=8)
        except InferenceServerException as error:
            outcomes[name] = error

    threads = [threading.Thread(target=send, args=(f"good{i}", b"fine")) for i in range(4)]
    threads.insert(2, threading.Thread(target=send, args=("bad", b"\xc3\x28")))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert isinstance(outcomes.pop("bad"), InferenceServerException)
    assert all(isinstance(v, list) and len(v) == 1 for v in outcomes.values()), outcomes
    assert len(outcomes) == 4


def test_client_command_prints_the_text_or_one_error_line(server, capsys):
    url = server.options.grpc_url
    assert gpt2_client.main(["--url", url, "--max-new-tokens", "3", "The harbour", "A fox"]) == 0
    assert len(capsys.readouterr().out.splitlines()) >= 2

    assert gpt2_client.main(["--url", url, "--max-new-tokens", "0", "The harbour"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {url}: ") and "max_new_tokens[0] is 0" in err
    assert len(err.strip().splitlines()) == 1


def test_predict_once_is_what_servectl_predict_prints(server):
    """The model client contract (model.yaml `client`), against the real tritonserver."""
    import json

    from tools.errors import UserError

    text = gpt2_client.predict_once(server.options.http_url, "Once upon a time")
    assert text.startswith("prompt:    Once upon a time\ngenerated: ")
    raw = json.loads(gpt2_client.predict_once(server.options.http_url, None, raw=True))
    assert raw["prompt"] == gpt2_client.DEFAULT_PROMPT and isinstance(raw["generated"], str)
    from tools.testing.ports import free_port

    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(UserError, match=nowhere):
        gpt2_client.predict_once(nowhere, "x")
