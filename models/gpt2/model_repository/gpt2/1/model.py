"""gpt2 on Triton's Python backend: ``text`` in, ``generated_text`` (the continuation) out.

Loads any causal LM saved with transformers' ``save_pretrained`` from the ``weights_dir`` parameter
(relative to this version directory): the repo's small GPT-2 artifact, or real GPT-2 weights.

Batching: Triton's dynamic batcher hands ``execute`` several requests at once. Every row of every
valid request is tokenised, rows with the same ``(max_new_tokens, temperature)`` are generated
together in one left-padded ``generate`` call, and the texts go back to their requests. A bad
request gets its own ``InferenceResponse(error=...)`` (INVALID_ARG, so HTTP 400), and the rest of
the batch is still served. ``temperature`` 0 (the default) is greedy decoding; > 0 samples.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import defaultdict
from pathlib import Path

# The backend stub embeds Python in isolated mode: it ignores PYTHONPATH and sees only the
# site-packages of the `python3` first on PATH (a venv works). An image that installs its packages
# with `pip install --target DIR` and PYTHONPATH=DIR needs them added here, before numpy.
for _entry in reversed(os.environ.get("PYTHONPATH", "").split(os.pathsep)):
    if _entry and _entry not in sys.path:
        sys.path.insert(0, _entry)

import numpy as np  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402

# Weights come from disk only: never let transformers reach for a model hub from a server.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


class BadRequest(ValueError):
    """A client mistake in one request; answered with INVALID_ARG, never raised out of execute."""


class TritonPythonModel:
    def initialize(self, args):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        config = json.loads(args["model_config"])
        params = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.default_max_new_tokens = int(params.get("default_max_new_tokens", "32"))
        self.max_new_tokens_limit = int(params.get("max_new_tokens_limit", "128"))

        weights_dir = Path(params.get("weights_dir", "weights"))
        if not weights_dir.is_absolute():
            weights_dir = Path(args["model_repository"]) / args["model_version"] / weights_dir
        if not (weights_dir / "config.json").is_file():
            raise pb_utils.TritonModelException(
                f"no save_pretrained weights in {weights_dir} (build them: python -m tools artifacts "
                "//models/gpt2:weights)"
            )

        cpu_threads = int(params.get("cpu_threads", "0"))  # 0: torch's default (one per core)
        if cpu_threads > 0:
            torch.set_num_threads(cpu_threads)
        if args["model_instance_kind"] == "GPU":
            self.device = torch.device("cuda", int(args["model_instance_device_id"]))
        else:
            self.device = torch.device("cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(weights_dir)
        # Decoder-only batches are padded on the left, so every row continues from its own last token.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(weights_dir).to(self.device).eval()
        self.context_length = getattr(self.model.config, "n_positions", None) or getattr(
            self.model.config, "max_position_embeddings", 1024
        )
        pb_utils.Logger.log_info(
            f"gpt2: loaded {type(self.model).__name__} from {weights_dir} on {self.device} "
            f"({sum(p.numel() for p in self.model.parameters()):,} parameters, context {self.context_length})"
        )

    def execute(self, requests):
        responses = [None] * len(requests)
        # (max_new_tokens, temperature) -> [(request index, row index, token ids)]
        groups = defaultdict(list)
        rows_per_request = {}
        for index, request in enumerate(requests):
            try:
                rows = self._parse(request)
            except BadRequest as error:
                responses[index] = _error_response(str(error), pb_utils.TritonError.INVALID_ARG)
                continue
            except Exception as error:  # a bug reading one request must not fail the whole batch
                responses[index] = _error_response(
                    f"could not read the request: {error}", pb_utils.TritonError.INTERNAL
                )
                continue
            rows_per_request[index] = [None] * len(rows)
            for row, (token_ids, max_new_tokens, temperature) in enumerate(rows):
                groups[(max_new_tokens, temperature)].append((index, row, token_ids))

        for (max_new_tokens, temperature), members in groups.items():
            try:
                texts = self._generate([ids for _, _, ids in members], max_new_tokens, temperature)
            except Exception as error:  # a server-side failure: fail these requests, keep the others
                for index, _, _ in members:
                    responses[index] = _error_response(
                        f"generation failed: {error}", pb_utils.TritonError.INTERNAL
                    )
                continue
            for (index, row, _), text in zip(members, texts, strict=True):
                rows_per_request[index][row] = text

        for index, texts in rows_per_request.items():
            if responses[index] is None:
                generated = np.array([[text.encode("utf-8")] for text in texts], dtype=np.object_)
                responses[index] = pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor("generated_text", generated)]
                )
        return responses

    def _parse(self, request):
        """Validates one request; returns its rows as ``[(token ids, max_new_tokens, temperature)]``."""
        text_tensor = pb_utils.get_input_tensor_by_name(request, "text")
        if text_tensor is None:  # Triton lets this through when an optional input is present
            raise BadRequest("missing required input 'text'")
        texts = text_tensor.as_numpy().reshape(-1)
        if texts.size == 0:
            raise BadRequest("empty batch: input 'text' has no rows")
        max_new_tokens = self._optional(request, "max_new_tokens", texts.size, self.default_max_new_tokens)
        temperatures = self._optional(request, "temperature", texts.size, 0.0)

        return [
            self._row(row, raw, int(max_new_tokens[row]), float(temperatures[row]))
            for row, raw in enumerate(texts)
        ]

    def _row(self, row, raw, new_tokens, temperature):
        """One validated row: ``(token ids, max_new_tokens, temperature)``."""
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        except UnicodeDecodeError as error:
            raise BadRequest(
                f"text[{row}] is not valid UTF-8 ({error.reason} at byte {error.start})"
            ) from None
        limit = self.max_new_tokens_limit
        if not 1 <= new_tokens <= limit:
            raise BadRequest(f"max_new_tokens[{row}] is {new_tokens}; it must be between 1 and {limit}")
        if not (math.isfinite(temperature) and temperature >= 0):
            raise BadRequest(f"temperature[{row}] is {temperature}; it must be a finite number >= 0")
        # An empty prompt starts from the end-of-text token, as GPT-2 does for unconditional text.
        token_ids = self.tokenizer(text).input_ids or [self.tokenizer.eos_token_id]
        if len(token_ids) + new_tokens > self.context_length:
            raise BadRequest(
                f"text[{row}] is {len(token_ids)} tokens; with max_new_tokens {new_tokens} it exceeds "
                f"the model's context of {self.context_length} tokens"
            )
        # Rounded so that float noise does not split rows with the "same" temperature into groups.
        return token_ids, new_tokens, round(temperature, 6)

    @staticmethod
    def _optional(request, name, rows, default):
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        if tensor is None:
            return [default] * rows
        values = tensor.as_numpy().reshape(-1)
        if values.size != rows:
            raise BadRequest(f"input '{name}' has {values.size} rows but 'text' has {rows}")
        return values.tolist()

    def _generate(self, prompts, max_new_tokens, temperature):
        torch = self.torch
        pad_id = self.tokenizer.pad_token_id
        width = max(len(ids) for ids in prompts)
        input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in prompts], device=self.device)
        attention_mask = torch.tensor(
            [[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts], device=self.device
        )
        sampling = (
            {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        )
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                max_new_tokens=max_new_tokens,
                pad_token_id=pad_id,
                **sampling,
            )
        return self.tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)

    def finalize(self):
        self.model = None
        self.tokenizer = None


def _error_response(message, code):
    return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message, code))
