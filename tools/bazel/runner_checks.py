"""Checks that `bazel test //...` runs every test file, and runs it for real.

- A py_test whose main is a pytest file without an entry point passes vacuously: Bazel runs the
  main as a script (rules_python 2.3.2 py_test; aspect_rules_py's py_test without pytest_main), the
  module defines test functions and nothing calls them, exit 0. aspect_rules_py's
  `pytest_main = True` (py/defs.bzl: a shared pytest main over the test's sources) or an
  `if __name__ == "__main__":` block calling pytest is the runner.
- Every `tests/test_*.py` of a package is a source of some test target of that package, so
  `bazel test //...` reaches it.
"""

from __future__ import annotations

import re

from tools.bazel.packages import Problem, split_label

_ENTRY_POINT = re.compile(r"""^if\s+__name__\s*==\s*["']__main__["']\s*:""", re.MULTILINE)
_TEST_FILE = re.compile(r"(^|/)tests/test_[^/]*\.py$")
_RUNNER_HINT = "use pytest_tests() from //tools:defs.bzl (aspect_rules_py py_test with pytest_main = True)"


def _main_file(target) -> str | None:
    main = target.attrs.get("main")
    if isinstance(main, str):
        return main
    srcs = [s for s in target.attrs.get("srcs") or [] if isinstance(s, str)]
    if len(srcs) == 1:
        return srcs[0]
    named = [s for s in srcs if s.rsplit(":", 1)[-1].rsplit("/", 1)[-1] == f"{target.name}.py"]
    return named[0] if named else None


def check_test_runners(workspace) -> list[Problem]:
    problems = []
    for package in workspace.packages.values():
        build = str(package.build_file.relative_to(workspace.root))
        for target in package.targets.values():
            if target.name != target.attrs.get("name") or target.kind != "py_test":
                continue
            if target.attrs.get("pytest_main"):
                continue
            main = _main_file(target)
            parts = split_label(main, package.name) if main else None
            if not parts or parts[0]:
                continue
            path = workspace.root / parts[1] / parts[2]
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            if re.search(r"^def test_", text, re.MULTILINE) and not _ENTRY_POINT.search(text):
                problems.append(
                    Problem(
                        build,
                        f"main {main!r} defines pytest tests but nothing runs them: Bazel runs it as "
                        f"a script, which defines the tests and exits 0 (the test passes vacuously); "
                        + _RUNNER_HINT,
                        target.name,
                        "main",
                    )
                )
    return problems


def check_test_files_have_targets(workspace) -> list[Problem]:
    problems = []
    for name, package in sorted(workspace.packages.items()):
        if not package.evaluated:
            continue
        directory = package.build_file.parent
        covered = set()
        for target in package.targets.values():
            if target.spec.test and target.name == target.attrs.get("name"):
                for src in target.attrs.get("srcs") or []:
                    parts = split_label(src, name) if isinstance(src, str) else None
                    if parts and not parts[0] and parts[1] == name:
                        covered.add(parts[2])
        for path in sorted(directory.rglob("test_*.py")):
            rel = path.relative_to(directory).as_posix()
            repo_rel = path.relative_to(workspace.root).as_posix()
            if not _TEST_FILE.search(rel) or workspace.is_ignored(repo_rel):
                continue
            if workspace.package_of_path(repo_rel) != name or rel in covered:
                continue
            build = str(package.build_file.relative_to(workspace.root))
            problems.append(
                Problem(
                    build,
                    f"{rel} is in no test target's srcs: `bazel test //...` never runs it; " + _RUNNER_HINT,
                )
            )
    return problems
