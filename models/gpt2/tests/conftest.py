"""Fixtures shared by the gpt2 tests: the weights artifact, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def gpt2_weights(tmp_path_factory) -> Path:
    from models.gpt2.artifacts import build

    out_dir = tmp_path_factory.mktemp("gpt2-weights")
    build(out_dir)
    return out_dir
