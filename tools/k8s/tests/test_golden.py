"""Golden manifests: committed, current, and the update command really rewrites them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools.k8s.checks import golden
from tools.k8s.tests.repo_copy import copy_repo_data
from tools.paths import REPO_ROOT

MODELS = ("yolo", "gpt2", "resnet50", "yolo_torchserve")  # package directories
ENVS = ("local", "staging", "prod")


def test_committed_golden_files_are_current():
    diffs = golden.stale()
    assert not diffs, (
        "golden files out of date; review and run: python -m tools.k8s.checks.golden --update\n"
        + "".join(diffs.values())
    )
    committed = golden.committed_golden_files()
    assert sorted(p.relative_to(REPO_ROOT).as_posix() for p in committed) == sorted(
        f"models/{m}/tests/golden/{e}.yaml" for m in MODELS for e in ENVS
    ), "each model's goldens live in its own package"


def test_update_writes_missing_fixes_changed_and_removes_stale(tmp_path: Path):
    root = copy_repo_data(tmp_path)  # without the models' tests/, so without their goldens
    written = golden.update(root)
    assert sorted(written) == sorted(golden.golden_path(m, e, root) for m, e in golden.all_cases(root))
    assert golden.stale(root) == {}
    edited = golden.golden_path("yolo", "prod", root)
    edited.write_text(edited.read_text().replace("maxReplicas: 10", "maxReplicas: 11"))
    vanished = golden.golden_path("yolo", "qa", root)  # an environment that is no more
    vanished.write_text("---\n")
    diffs = golden.stale(root)
    assert set(diffs) == {edited, vanished}
    assert "-  maxReplicas: 11\n+  maxReplicas: 10" in diffs[edited]
    assert sorted(golden.update(root)) == sorted([edited, vanished])
    assert not vanished.exists() and golden.stale(root) == {}


def test_test_digests_are_fixed_and_well_formed():
    digest = golden.test_digest("//models/yolo:image")
    assert digest == golden.test_digest("//models/yolo:image") != golden.test_digest("//models/gpt2:image")
    assert digest.startswith("sha256:") and len(digest) == 71


@pytest.mark.parametrize("args", [[], ["--help"]])
def test_the_check_command_runs(args):
    proc = subprocess.run(
        [sys.executable, "-m", "tools.k8s.checks.golden", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("golden files up to date" in proc.stdout) or ("--update" in proc.stdout)
