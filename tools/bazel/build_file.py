"""Reads a package's BUILD.bazel with starlark-pyo3, recording targets instead of building them.

This is how ``python -m tools build`` gets the same image description Bazel uses: every rule or
macro call becomes a ``Target(kind, name, attrs)``. Symbols loaded from other files are recorded
under their own name (``py_image`` from ``//tools/oci:defs.bzl`` is recorded as kind
``py_image``), so a BUILD file reads the same here as its macro's docstring describes it.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import starlark as sl

from tools.bazel.workspace import first_error_line
from tools.errors import UserError
from tools.labels import Label
from tools.paths import REPO_ROOT

# Rules and functions a BUILD file may use without a load() under Bazel 7+.
NATIVE_RULES = (
    "alias",
    "config_setting",
    "exports_files",
    "filegroup",
    "genrule",
    "sh_binary",
    "sh_test",
    "test_suite",
)


@dataclass
class Target:
    kind: str
    name: str
    package: str
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> Label:
        return Label(self.package, self.name)


def _glob(package_dir: Path):
    def glob(include=(), exclude=(), allow_empty=True, **_ignored):
        found = set()
        for pattern in include:
            found.update(
                str(p.relative_to(package_dir))
                for p in package_dir.glob(pattern)
                if p.is_file() and "__pycache__" not in p.parts
            )
        for pattern in exclude:
            found = {f for f in found if not fnmatch.fnmatch(f, pattern)}
        return sorted(found)

    return glob


def read_targets(package: str, *, root: Path = REPO_ROOT) -> dict[str, Target]:
    """Evaluates ``<root>/<package>/BUILD.bazel`` and returns its targets by name."""
    package_dir = root / package
    build_path = package_dir / "BUILD.bazel"
    try:
        source = build_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("no BUILD.bazel in this package", file=build_path) from None

    targets: dict[str, Target] = {}

    def recorder(kind: str):
        def record(*args, **attrs):
            if kind == "exports_files":
                return None
            name = attrs.get("name")
            if not isinstance(name, str):
                raise UserError(f"{kind}() call without a name", file=build_path)
            if name in targets:
                raise UserError(f"target {name!r} is defined twice", file=build_path)
            targets[name] = Target(kind=kind, name=name, package=package, attrs=attrs)

        return record

    def load(label: str) -> sl.FrozenModule:
        module = sl.Module()
        for load_stmt in ast.loads():
            if load_stmt.module_id == label:
                for symbol in load_stmt.symbols.values():
                    module.add_callable(symbol, recorder(symbol))
        return module.freeze()

    try:
        ast = sl.parse(str(build_path), source, dialect=sl.Dialect.extended())
        module = sl.Module()
        for kind in NATIVE_RULES:
            module.add_callable(kind, recorder(kind))
        module.add_callable("glob", _glob(package_dir))
        module.add_callable("package", lambda **_: None)
        module.add_callable("select", lambda conditions, **_: conditions.get("//conditions:default"))
        sl.eval(module, ast, sl.Globals.standard(), sl.FileLoader(load))
    except sl.StarlarkError as error:
        raise UserError(f"cannot evaluate: {first_error_line(error)}", file=build_path) from None
    return targets


def read_target(label: Label | str, *, root: Path = REPO_ROOT) -> Target:
    label = Label.parse(label) if isinstance(label, str) else label
    targets = read_targets(label.package, root=root)
    if label.name not in targets:
        raise UserError(f"no target named {label.name!r}", file=root / label.package / "BUILD.bazel")
    return targets[label.name]
