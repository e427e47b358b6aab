"""A small tritonclient client for gpt2 over HTTP or gRPC (tests, the benchmark, smoke checks).

    python -m models.gpt2.client --url http://127.0.0.1:8000 "Once upon a time"
    python -m models.gpt2.client --url grpc://127.0.0.1:8001 --max-new-tokens 16 "The harbour"

The URL's scheme picks the protocol (``http://`` port 8000, ``grpc://`` port 8001; no scheme means
HTTP). Server errors arrive as ``tritonclient.utils.InferenceServerException`` with Triton's own
message; the command line prints them as one ``error:`` line and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

import numpy as np
from tritonclient.utils import InferenceServerException

MODEL_NAME = "gpt2"


def connect(url: str, *, timeout: float = 60.0):
    """``(tritonclient module, InferenceServerClient)`` for ``http://host:port`` or ``grpc://host:port``."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "grpc") or not parts.hostname or not parts.port:
        raise ValueError(f"expected http://HOST:PORT or grpc://HOST:PORT, got {url!r}")
    target = f"{parts.hostname}:{parts.port}"
    if parts.scheme == "grpc":
        import tritonclient.grpc as protocol

        return protocol, protocol.InferenceServerClient(target)
    import tritonclient.http as protocol

    return protocol, protocol.InferenceServerClient(
        target, connection_timeout=timeout, network_timeout=timeout
    )


def make_inputs(
    protocol,
    prompts: Sequence[str | bytes],
    *,
    max_new_tokens: int | None = None,
    temperature: float | None = None,
):
    """The request's input tensors: one ``[len(prompts), 1]`` row per prompt."""
    rows = len(prompts)
    text = np.array([[p if isinstance(p, bytes) else p.encode("utf-8")] for p in prompts], dtype=np.object_)
    inputs = [protocol.InferInput("text", [rows, 1], "BYTES")]
    inputs[0].set_data_from_numpy(text.reshape(rows, 1))
    if max_new_tokens is not None:
        inputs.append(protocol.InferInput("max_new_tokens", [rows, 1], "INT32"))
        inputs[-1].set_data_from_numpy(np.full((rows, 1), max_new_tokens, dtype=np.int32))
    if temperature is not None:
        inputs.append(protocol.InferInput("temperature", [rows, 1], "FP32"))
        inputs[-1].set_data_from_numpy(np.full((rows, 1), temperature, dtype=np.float32))
    return inputs


def generate(
    url: str,
    prompts: Sequence[str | bytes],
    *,
    max_new_tokens: int | None = None,
    temperature: float | None = None,
    model: str = MODEL_NAME,
    client=None,
) -> list[str]:
    """Sends one request with every prompt as a row; returns the generated continuations.

    Pass ``client`` (``(module, InferenceServerClient)`` from ``connect``) to reuse a connection.
    """
    protocol, server = client or connect(url)
    try:
        inputs = make_inputs(protocol, prompts, max_new_tokens=max_new_tokens, temperature=temperature)
        result = server.infer(model, inputs, outputs=[protocol.InferRequestedOutput("generated_text")])
    finally:
        if client is None:
            # An idle keep-alive connection holds up tritonserver's shutdown for its whole exit timeout.
            server.close()
    return [value.decode("utf-8") for value in result.as_numpy("generated_text").reshape(-1)]


DEFAULT_PROMPT = "The platform serves models"


def predict_once(url: str, input: str | None, *, raw: bool = False) -> str:
    """The contract ``servectl predict`` calls (model.yaml's ``client``): ``input`` is a prompt."""
    import json

    from tools.errors import UserError

    prompt = input or DEFAULT_PROMPT
    try:
        (text,) = generate(url, [prompt], max_new_tokens=16)
    except (InferenceServerException, ValueError, OSError) as error:
        raise UserError(f"{url}: {error}") from None
    if raw:
        return json.dumps({"prompt": prompt, "generated": text}, indent=2)
    # The repo builds a small seeded, untrained GPT-2 (no hub downloads): its words are noise
    # until real GPT-2 weights are dropped in (models/gpt2/artifacts.py); the plumbing is real.
    return f"prompt:    {prompt}\ngenerated: {text!r}  (untrained seeded weights: expect noise)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.gpt2.client", description=__doc__.split("\n")[0])
    parser.add_argument("prompts", nargs="+", help="one or more prompts, sent as the rows of one request")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="http://HOST:PORT or grpc://HOST:PORT")
    parser.add_argument("--model", default=MODEL_NAME)
    parser.add_argument("--max-new-tokens", type=int)
    parser.add_argument("--temperature", type=float)
    args = parser.parse_args(argv)
    try:
        texts = generate(
            args.url,
            args.prompts,
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            model=args.model,
        )
    except (InferenceServerException, ValueError, OSError) as error:
        print(f"error: {args.url}: {error}", file=sys.stderr)
        return 2
    for text in texts:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
