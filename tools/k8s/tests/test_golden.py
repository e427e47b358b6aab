"""Golden manifests: committed, current, and the update command really rewrites them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools.k8s import golden
from tools.paths import REPO_ROOT


def test_committed_golden_files_are_current():
    diffs = golden.stale()
    assert not diffs, (
        "golden files out of date; review and run: python -m tools.k8s.golden --update\n"
        + "".join(diffs.values())
    )
    assert len(list(golden.GOLDEN_DIR.glob("*.yaml"))) == 12  # 4 models x 3 environments


def test_update_writes_missing_fixes_changed_and_removes_stale(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(golden, "GOLDEN_DIR", tmp_path)
    written = golden.update()
    assert sorted(p.name for p in written) == sorted(f"{m}.{e}.yaml" for m, e in golden.all_cases())
    assert golden.stale() == {}
    edited = tmp_path / "yolo.prod.yaml"
    edited.write_text(edited.read_text().replace("maxReplicas: 10", "maxReplicas: 11"))
    (tmp_path / "bert.prod.yaml").write_text("---\n")
    diffs = golden.stale()
    assert set(diffs) == {edited, tmp_path / "bert.prod.yaml"}
    assert "-  maxReplicas: 11\n+  maxReplicas: 10" in diffs[edited]
    assert sorted(p.name for p in golden.update()) == ["bert.prod.yaml", "yolo.prod.yaml"]
    assert not (tmp_path / "bert.prod.yaml").exists() and golden.stale() == {}


def test_test_digests_are_fixed_and_well_formed():
    digest = golden.test_digest("//models/yolo:image")
    assert digest == golden.test_digest("//models/yolo:image") != golden.test_digest("//models/gpt2:image")
    assert digest.startswith("sha256:") and len(digest) == 71


@pytest.mark.parametrize("args", [[], ["--help"]])
def test_the_check_command_runs(args):
    proc = subprocess.run(
        [sys.executable, "-m", "tools.k8s.golden", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("golden files up to date" in proc.stdout) or ("--update" in proc.stdout)
