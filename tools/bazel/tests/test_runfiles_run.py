"""A test run from a copy of only its declared runfiles: what remote execution gives it.

The graph check lists what a test reads and lacks (tools/bazel/test_data_checks.py); this runs
tests for real in such a copy (tools/bazel/runfiles_run.py) to show the declarations suffice and
that an undeclared read fails there, as it would on a remote executor.
"""

from __future__ import annotations

import subprocess
import sys

from tools.paths import REPO_ROOT


def runfiles_run(*args: str, root=REPO_ROOT) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tools.bazel.runfiles_run", "--root", str(root), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)


def test_a_test_with_its_data_declared_passes_from_its_runfiles():
    # tools/k8s/tests/test_specs.py reads models/, runtimes/ and platform/ files (//tools/k8s:repo_data).
    result = runfiles_run("//tools/k8s:test_specs", "--", "-q", "-p", "no:randomly")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "/_main/" not in result.stderr


def test_an_undeclared_read_fails_from_the_runfiles_but_not_in_the_workspace(fixture_repo):
    root = fixture_repo("good", "broken_test_data")
    # In the workspace the test passes: the files are there, declared or not.
    in_place = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "models/demo/tests/test_demo.py"],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
    )
    assert in_place.returncode == 0, in_place.stdout[-3000:]
    # From its runfiles (what remote execution has) it cannot find them.
    result = runfiles_run("//models/demo:test_demo", "--", "-q", root=root)
    assert result.returncode == 1
    assert "FileNotFoundError" in result.stdout and "testdata/input.json" in result.stdout


def test_local_and_unknown_targets_are_one_error_line():
    result = runfiles_run("//tools/bazel:test_graph")
    assert result.returncode == 2 and "tagged local" in result.stderr and "Traceback" not in result.stderr
    result = runfiles_run("//tools/k8s:no_such_test")
    assert (
        result.returncode == 2 and result.stderr == "error: //tools/k8s:no_such_test: no such test target\n"
    )
