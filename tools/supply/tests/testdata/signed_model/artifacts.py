"""Toy model artifacts: what a real model's ``build(out_dir)`` writes, in a few bytes."""

from __future__ import annotations

import json
from pathlib import Path


def build(out_dir: Path) -> None:
    (out_dir / "gate").write_text("open")  # runtimes.fastapi.tests.toy_models:GatedSum loads it
    (out_dir / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (out_dir / "checkpoint.pt").write_bytes(b"left out of the image by artifacts_exclude")
    metadata = {"license": "Apache-2.0", "source": {"url": "https://example.invalid/toy"}}
    (out_dir / "metadata.json").write_text(json.dumps(metadata, sort_keys=True))
