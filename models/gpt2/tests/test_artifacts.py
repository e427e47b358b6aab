"""The gpt2 weights artifact: a real, loadable, reproducible GPT-2 and tokenizer."""

from __future__ import annotations

import hashlib

import pytest

from models.gpt2 import artifacts

pytestmark = pytest.mark.slow  # imports torch and transformers


def _digests(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_loads_as_gpt2_with_transformers(gpt2_weights):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gpt2_weights)
    tokenizer = AutoTokenizer.from_pretrained(gpt2_weights)

    assert type(model).__name__ == "GPT2LMHeadModel"
    parameters = sum(p.numel() for p in model.parameters())
    assert 1_000_000 < parameters < 10_000_000, parameters
    assert model.config.vocab_size == len(tokenizer)
    assert tokenizer.eos_token == artifacts.END_OF_TEXT == tokenizer.decode([model.config.eos_token_id])


def test_tokenizer_is_byte_level_and_round_trips_any_text(gpt2_weights):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gpt2_weights)
    # Byte-level BPE has no unknown token: words never seen in training, accents and emoji survive.
    for text in ("The harbour town wakes", "Zyxw qu'il ünïcödé 😀 日本", "  spaces\tand\nnewlines  "):
        assert tokenizer.decode(tokenizer(text).input_ids) == text
    # The merges were learnt from the corpus: its common words are single tokens, unseen ones are not.
    assert len(tokenizer(" harbour").input_ids) == 1
    assert len(tokenizer(" xylophone").input_ids) > 1


def test_every_file_is_readable_by_the_non_root_server(gpt2_weights):
    for path in gpt2_weights.iterdir():
        assert path.stat().st_mode & 0o004, f"{path.name} is not world-readable"


def test_two_builds_are_byte_identical(gpt2_weights, tmp_path):
    artifacts.build(tmp_path)
    assert _digests(tmp_path) == _digests(gpt2_weights)
