"""The gpt2 weights artifact: a small GPT-2 and its tokenizer, made here instead of downloaded.

``build(out_dir)`` (the ``tools.artifacts`` contract) writes a transformers ``save_pretrained``
directory: ``config.json``, ``generation_config.json``, ``model.safetensors``, ``tokenizer.json``
and ``tokenizer_config.json``. The tokenizer is a byte-level BPE (GPT-2's scheme) trained with
``tokenizers`` on ``corpus.txt``; the model is a randomly initialised ``GPT2LMHeadModel`` from a
fixed seed, so two builds give the same bytes. Its text is nonsense, but every serving path (batching,
tokenisation, limits, errors) is the real one, and real GPT-2 weights saved the same way drop in.

Run: ``python -m tools artifacts //models/gpt2:weights`` (or ``python -m models.gpt2.artifacts DIR``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

# The tokenizer's training text is an input of the artifact: a change to it rebuilds the weights.
SOURCES = ("models/gpt2/corpus.txt",)
CORPUS = Path(__file__).resolve().parent / "corpus.txt"

SEED = 20261123
END_OF_TEXT = "<|endoftext|>"
VOCAB_SIZE = 1024  # an upper bound: the corpus is small, training stops at about 600 tokens
# About 3.4M parameters: big enough that a batch is real work, small enough that a CPU generates
# 32 tokens in well under a second.
MODEL_SHAPE = {"n_positions": 256, "n_embd": 256, "n_layer": 4, "n_head": 4}


def train_tokenizer(corpus: Path, work_dir: Path):
    """Trains GPT-2's byte-level BPE on ``corpus`` and returns it as a transformers tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Tokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        [corpus.read_text(encoding="utf-8")],
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=[END_OF_TEXT],
        show_progress=False,
    )
    # vocab.json + merges.txt is GPT-2's own tokenizer format; loading it through transformers gives
    # the same tokenizer class (and special tokens) a real GPT-2 checkpoint has.
    bpe.save_model(str(work_dir))
    return GPT2Tokenizer.from_pretrained(work_dir, model_max_length=MODEL_SHAPE["n_positions"])


def make_model(vocab_size: int, end_of_text_id: int):
    """A randomly initialised GPT2LMHeadModel; the same seed gives the same weights."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        bos_token_id=end_of_text_id,
        eos_token_id=end_of_text_id,
        **MODEL_SHAPE,
    )
    torch.manual_seed(SEED)
    return GPT2LMHeadModel(config).eval()


def build(out_dir: Path) -> None:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a build log, not a terminal
    with tempfile.TemporaryDirectory(prefix="gpt2-tokenizer-") as work_dir:
        tokenizer = train_tokenizer(CORPUS, Path(work_dir))
    model = make_model(len(tokenizer), tokenizer.eos_token_id)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    # safetensors writes 0600; the server in the image runs as uid 65532, not as the file's owner.
    for path in out_dir.iterdir():
        path.chmod(0o644)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m models.gpt2.artifacts OUT_DIR")
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    build(target)
    print(target)
