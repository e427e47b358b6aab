"""Runs one test target the way remote execution would: in a copy of only its declared runfiles.

    python -m tools.bazel.runfiles_run //tools/k8s:test_specs [--root ROOT]

The runfiles come from the graph check's model of the target (tools/bazel/test_data_checks.py
`runfiles`: srcs, data and deps, transitively, glob()s expanded); each file is copied (not
symlinked, as on a remote executor, so `Path(__file__).resolve()` and tools.paths.REPO_ROOT stay
inside the copy) into `<tmp>/_main`, and pytest runs the test file there as aspect_rules_py's
pytest main does: in the runfiles root, with the root's pyproject.toml and conftest.py only if the
target declares them. A test that reads an undeclared file fails here with FileNotFoundError,
as it would under `bazel test --remote_executor=...`. Pip packages come from the running venv:
this checks the repo's own files, not the hubs. Exit status: pytest's; 2 for bad input.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.bazel.module_file import read_module_file
from tools.bazel.packages import split_label
from tools.bazel.rule_specs import load_rule_specs
from tools.bazel.test_data_checks import runfiles
from tools.bazel.workspace import Workspace
from tools.errors import UserError


def test_runfiles(root: Path, label: str) -> tuple[list[str], list[str], list[str]]:
    """(test sources, declared repo files, generated targets) of the test target `label`."""
    parts = split_label(label, "")
    if not parts or parts[0] or not label.startswith("//"):
        raise UserError(f"{label!r}: expected //package:test_target")
    specs = load_rule_specs()
    workspace = Workspace(root, specs, read_module_file(root / "MODULE.bazel", specs.extensions).repos)
    workspace.evaluate()
    package = workspace.packages.get(parts[1])
    target = package.targets.get(parts[2]) if package else None
    if target is None or not target.spec.test:
        raise UserError(f"{label}: no such test target")
    if "local" in (target.attrs.get("tags") or []):
        raise UserError(
            f"{label} is tagged local: Bazel runs it on the host, with the workspace, not from its runfiles"
        )
    files, generated = runfiles(workspace, parts[1], [f":{parts[2]}"])
    sources = [
        f"{parts[1]}/{split_label(s, parts[1])[2]}"
        for s in target.attrs.get("srcs") or []
        if isinstance(s, str) and split_label(s, parts[1]) and "/tests/test_" in f"/{s}"
    ]
    return sources, sorted(f for f in files if (root / f).is_file()), generated


def copy_runfiles(root: Path, files: list[str], destination: Path) -> None:
    for rel in files:
        target = destination / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)


def run(root: Path, label: str, extra: list[str]) -> int:
    sources, files, generated = test_runfiles(root, label)
    if generated:
        print(f"note: generated inputs not built here: {', '.join(generated)}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="runfiles-") as tmp:
        main = Path(tmp) / "_main"
        copy_runfiles(root, files, main)
        env = {
            k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CF_BUILD_DIR", "PYTEST_ADDOPTS")
        }
        env.update(
            PYTHONPATH=str(main),
            TEST_TMPDIR=str(Path(tmp) / "tmp"),
            TEST_SRCDIR=tmp,
            TEST_WORKSPACE="_main",
            PYTHONDONTWRITEBYTECODE="1",
        )
        (Path(tmp) / "tmp").mkdir()
        # aspect_rules_py v1.12.0 py/private/pytest.py.tmpl: no cache provider, runs in the root.
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *sources, *extra]
        return subprocess.run(command, cwd=main, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label", help="//package:test_target")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2]), help="the workspace")
    parser.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")
    args = parser.parse_args(argv)
    try:
        return run(Path(args.root).resolve(), args.label, args.pytest_args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
