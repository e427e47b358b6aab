"""Fixture test: reads two repo files its target does not declare."""

import json
from pathlib import Path

from tools.paths import REPO_ROOT

TESTDATA = Path(__file__).parent / "testdata"


def test_demo():
    data = json.loads((TESTDATA / "input.json").read_text())
    assert (REPO_ROOT / "models" / "demo" / "model.yaml").is_file()
    assert data["input"] == [1, 2, 3]
