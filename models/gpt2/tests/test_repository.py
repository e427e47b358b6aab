"""repository.assemble: the servable layout tritonserver and the image use (no server needed)."""

from __future__ import annotations

import pytest

from models.gpt2.repository import MODEL_NAME, assemble
from tools.errors import UserError


@pytest.fixture
def fake_weights(tmp_path):
    # assemble only places the directory; serving real weights is test_serving's job.
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "config.json").write_text("{}")
    (weights / ".key").write_text("cache key")
    return weights


def test_layout_has_rendered_config_code_and_weights(tmp_path, fake_weights):
    repo = assemble(tmp_path / "repo", fake_weights, gpu=False)
    model_dir = repo / MODEL_NAME
    assert "kind: KIND_CPU" in (model_dir / "config.pbtxt").read_text()
    assert "class TritonPythonModel" in (model_dir / "1" / "model.py").read_text()
    assert (model_dir / "1" / "weights" / "config.json").is_file()
    assert not (model_dir / "1" / "weights" / ".key").exists()  # the artifact cache's key stays out
    assert not list(model_dir.rglob("*.tmpl"))


def test_reassembling_switches_between_link_and_copy(tmp_path, fake_weights):
    weights = tmp_path / "repo" / MODEL_NAME / "1" / "weights"
    assemble(tmp_path / "repo", fake_weights, link_weights=True)
    assert weights.is_symlink()
    assemble(tmp_path / "repo", fake_weights, gpu=True)
    assert weights.is_dir() and not weights.is_symlink()
    assert "kind: KIND_GPU" in (tmp_path / "repo" / MODEL_NAME / "config.pbtxt").read_text()


def test_missing_weights_say_how_to_build_them(tmp_path):
    with pytest.raises(UserError, match="python -m tools artifacts //models/gpt2:weights"):
        assemble(tmp_path / "repo", tmp_path / "nothing-here")
