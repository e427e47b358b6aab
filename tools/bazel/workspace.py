"""Evaluates every BUILD and .bzl file of a repo with starlark-pyo3 and records every target.

Our own .bzl macros run for real (with the stand-ins of prelude.star for `rule`, `attr`, `native`),
so what they expand to is checked like a hand-written BUILD file. External rules (rules_python,
rules_oci, ...) are recording stand-ins built from tools/bazel/rule_attrs/*.json. Each call is
checked on the spot (known attributes only, no duplicate names); labels are checked afterwards by
tools/bazel/graph.py, once every package is known.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import starlark as sl

from tools.bazel.packages import (
    Package,
    Problem,
    Target,
    find_packages,
    label_values,
    read_ignored,
    split_label,
)
from tools.bazel.rule_specs import RuleSpec, RuleSpecs

PRELUDE = Path(__file__).resolve().parent / "prelude.star"
PRELUDE_LABEL = "//:__graph_check_prelude__"
PRELUDE_SYMBOLS = (
    "DefaultInfo",
    "OutputGroupInfo",
    "RunEnvironmentInfo",
    "attr",
    "config",
    "depset",
    "native",
    "provider",
    "repository_rule",
    "rule",
    "select",
    "visibility",
)
_GLOBALS = sl.Globals.extended_by(
    [sl.LibraryExtension.StructType, sl.LibraryExtension.Json, sl.LibraryExtension.Print]
)
_RULE_ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*)\s*=\s*rule\(", re.MULTILINE)
_REPO_RULE_ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*)\s*=\s*repository_rule\(", re.MULTILINE)


class Workspace:
    """All packages of a repo root, evaluated; `problems` holds everything found wrong."""

    def __init__(self, root: Path, specs: RuleSpecs, declared_repos: set[str]):
        self.root = root
        self.specs = specs
        self.declared_repos = declared_repos
        self.problems: list[Problem] = []
        self.packages = {name: Package(name, path) for name, path in find_packages(root).items()}
        self._ignored = read_ignored(root)
        self._bzl_cache: dict[str, sl.FrozenModule] = {}
        self._bzl_stack: list[str] = []
        self._own_rules: list[RuleSpec] = []
        # (bzl file, rule, attribute, label): defaults of our own rules' label attributes.
        self.label_defaults: list[tuple[str, str, str, str]] = []
        self._rules_per_file: dict[str, int] = {}
        # (bzl file, name) -> attribute names of the repository rules the repo defines.
        self.repository_rules: dict[tuple[str, str], set[str]] = {}
        self._current: Package | None = None
        self._pending_selects: list[str] = []
        # (package, target) -> the condition keys of the select()s in its attributes.
        self.select_keys: dict[tuple[str, str], list[str]] = {}
        self._prelude = self._load_prelude()

    # --- helpers ---

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def _problem(self, message: str, *, file: str | None = None, target=None, attribute=None) -> None:
        where = file or (self._rel(self._current.build_file) if self._current else "?")
        self.problems.append(Problem(where, message, target, attribute))

    def is_ignored(self, rel_path: str) -> bool:
        """Hidden, bazel-* and .bazelignore'd paths are not part of any package."""
        parts = rel_path.split("/")
        if any(part.startswith(".") or part.startswith("bazel-") for part in parts[:-1]):
            return True
        return any(rel_path == i or rel_path.startswith(i + "/") for i in self._ignored)

    def package_of_path(self, rel_path: str) -> str | None:
        """The package a repo-relative file belongs to (its nearest directory with a BUILD file)."""
        parts = rel_path.split("/")[:-1]
        while True:
            candidate = "/".join(parts)
            if candidate in self.packages:
                return candidate
            if not parts:
                return None
            parts.pop()

    # --- callables shared by BUILD files and the prelude ---

    def _glob(self, include=(), exclude=(), allow_empty=False, exclude_directories=1, **_ignored):
        package = self._current
        base = self.root / package.name if package.name else self.root
        found = set()
        for pattern in include:
            for path in base.glob(pattern):
                rel = str(path.relative_to(base))
                repo_rel = self._rel(path)
                if self.is_ignored(repo_rel) or self.package_of_path(repo_rel) != package.name:
                    continue
                if path.is_file() or not exclude_directories:
                    found.add(rel)
        found = {f for f in found if not any(fnmatch.fnmatch(f, pattern) for pattern in exclude)}
        if not found and not allow_empty:
            self._problem(f"glob({list(include)}) matches no files; Bazel 8 fails on an empty glob")
        return sorted(found)

    def _select(self, conditions, no_match_error=""):
        # The keys are kept for the next target this package records (the call the select is an
        # attribute of), so checks can see what a target is configured on.
        self._pending_selects.extend(str(key) for key in conditions)
        return conditions.get("//conditions:default", next(iter(conditions.values()), None))

    def _exports_files(self, srcs, visibility=None, licenses=None):
        for src in srcs:
            self._current.exported[src] = list(visibility or ["//visibility:public"])

    def _package(self, default_visibility=None, **_ignored):
        if default_visibility is not None:
            self._current.default_visibility = list(default_visibility)

    def _label_fn(self, package: str):
        def label(text):
            parts = split_label(text, package)
            if parts is None:
                raise ValueError(f"not a label: {text!r}")
            repo, pkg, name = parts
            return f"{'@' + repo if repo else ''}//{pkg}:{name}"

        return label

    def record(self, spec: RuleSpec, attrs: dict[str, Any], *, defined_in: str) -> None:
        package = self._current
        name = attrs.get("name")
        if not isinstance(name, str) or not name:
            self._problem(f"{spec.kind}() call without a name (made by {defined_in})")
            return
        if self._pending_selects:
            self.select_keys[(package.name, name)] = self._pending_selects
            self._pending_selects = []
        allowed = self.specs.allowed_attrs(spec)
        for attribute in sorted(set(attrs) - allowed):
            self._problem(
                f"{spec.kind} has no such attribute (read from {spec.source}; made by {defined_in})",
                target=name,
                attribute=attribute,
            )
        for created in [name, *(c.format(name=name) for c in spec.creates)]:
            if created in package.targets:
                self._problem(f"target defined twice (second time by {defined_in})", target=created)
                continue
            package.targets[created] = Target(package.name, created, spec.kind, attrs, spec, defined_in)
        for attribute, kind in spec.attrs.items():
            value = attrs.get(attribute)
            for text in label_values(kind, value):
                parts = split_label(text, package.name)
                if parts and not parts[0] and parts[1] == package.name:
                    package.referenced.add(parts[2])
            if kind == "output" and isinstance(value, str):
                package.outputs.add(value)
            elif kind == "output_list" and isinstance(value, list):
                package.outputs.update(v for v in value if isinstance(v, str))

    # --- the prelude and .bzl files ---

    def _load_prelude(self) -> sl.FrozenModule:
        module = sl.Module()
        module.add_callable("_py_register_rule", self._register_rule)
        module.add_callable("_py_instantiate_rule", self._instantiate_rule)
        module.add_callable("_py_register_repository_rule", self._register_repository_rule)
        module.add_callable("_py_native_rule", self._native_rule)
        module.add_callable("_py_exports_files", self._exports_files)
        module.add_callable("_py_glob", self._glob)
        module.add_callable("_py_select", self._select)
        module.add_callable("_py_package_name", lambda: self._current.name)
        module.add_callable("_py_repository_name", lambda: "@")
        module.add_callable(
            "_py_package_relative_label", lambda text: self._label_fn(self._current.name)(text)
        )
        source = PRELUDE.read_text(encoding="utf-8")
        sl.eval(module, sl.parse(str(PRELUDE), source, dialect=sl.Dialect.extended()), _GLOBALS)
        return module.freeze()

    def _register_rule(self, attrs, has_doc, executable, test) -> int:
        bzl = self._bzl_stack[-1] if self._bzl_stack else "?"
        index = self._rules_per_file.get(bzl, 0)
        self._rules_per_file[bzl] = index + 1
        names = _RULE_ASSIGNMENT.findall((self.root / bzl).read_text(encoding="utf-8"))
        kind = names[index] if index < len(names) else f"rule#{index}"
        if not has_doc:
            self._problem("rule has no doc=", file=bzl, target=kind)
        public = {}
        for attribute, (attr_kind, attr_has_doc, _mandatory, default) in attrs.items():
            if default:
                self.label_defaults.append((bzl, kind, attribute, default))
            if attribute.startswith("_"):
                continue
            public[attribute] = attr_kind
            if not attr_has_doc:
                self._problem("rule attribute has no doc=", file=bzl, target=kind, attribute=attribute)
        spec = RuleSpec(kind=kind, attrs=public, source=bzl, executable=executable, test=test)
        self._own_rules.append(spec)
        return len(self._own_rules) - 1

    def _register_repository_rule(self, attrs, has_doc) -> None:
        """Records `name = repository_rule(...)` of a .bzl: (file, name) -> its attribute names."""
        bzl = self._bzl_stack[-1] if self._bzl_stack else "?"
        done = [key for key in self.repository_rules if key[0] == bzl]
        names = _REPO_RULE_ASSIGNMENT.findall((self.root / bzl).read_text(encoding="utf-8"))
        kind = names[len(done)] if len(done) < len(names) else f"repository_rule#{len(done)}"
        if not has_doc:
            self._problem("repository rule has no doc=", file=bzl, target=kind)
        for attribute, attr_has_doc in attrs.items():
            if not attr_has_doc and not attribute.startswith("_"):
                self._problem("rule attribute has no doc=", file=bzl, target=kind, attribute=attribute)
        self.repository_rules[(bzl, kind)] = set(attrs)

    def _instantiate_rule(self, rule_id, attrs) -> None:
        spec = self._own_rules[rule_id]
        self.record(spec, attrs, defined_in=spec.source)

    def _native_rule(self, kind, attrs) -> None:
        self.record(self.specs.native[kind], attrs, defined_in="native." + kind)

    def _external_module(self, label: str) -> sl.FrozenModule:
        module = sl.Module()
        for symbol, spec in self.specs.files[label].items():
            if spec is None:
                module.add_callable(symbol, lambda *args, **kwargs: "")
            else:
                module.add_callable(symbol, self._external_recorder(spec, label))
        return module.freeze()

    def _external_recorder(self, spec: RuleSpec, label: str):
        def record(**attrs):
            self.record(spec, attrs, defined_in=label)

        return record

    def load_bzl(self, label: str, *, loading_package: str, loading_file: str) -> sl.FrozenModule:
        if label == PRELUDE_LABEL:
            return self._prelude
        parts = split_label(label, loading_package)
        if parts is None or not parts[2].endswith(".bzl"):
            raise self._load_error(loading_file, f"load({label!r}): not a .bzl label")
        repo, pkg, name = parts
        if repo:
            if repo not in self.declared_repos:
                raise self._load_error(
                    loading_file, f"load({label!r}): @{repo} is not a repo MODULE.bazel declares"
                )
            canonical = f"@{repo}//{pkg}:{name}"
            if canonical not in self.specs.files:
                raise self._load_error(
                    loading_file,
                    f"load({label!r}): no stand-in for this file; add its rules to tools/bazel/rule_attrs/",
                )
            return self._external_module(canonical)
        canonical = f"//{pkg}:{name}"
        if canonical in self._bzl_cache:
            return self._bzl_cache[canonical]
        rel = f"{pkg}/{name}" if pkg else name
        if not (self.root / rel).is_file():
            raise self._load_error(loading_file, f"load({label!r}): {rel} does not exist")
        if self.package_of_path(rel) != pkg:
            raise self._load_error(loading_file, f"load({label!r}): //{pkg} is not the package of {rel}")
        module = self._eval_bzl(rel, pkg)
        self._bzl_cache[canonical] = module
        return module

    def _load_error(self, file: str, message: str) -> ValueError:
        # Raised inside load(): Starlark reports it with the loading file and line.
        return ValueError(message)

    def _eval_bzl(self, rel: str, package: str) -> sl.FrozenModule:
        source = (self.root / rel).read_text(encoding="utf-8")
        symbols = ", ".join(f'"{s}"' for s in PRELUDE_SYMBOLS)
        # Same line as the file's first line, so reported line numbers stay right.
        source = f'load("{PRELUDE_LABEL}", {symbols}); {source}'
        module = sl.Module()
        module.add_callable("Label", self._label_fn(package))
        self._bzl_stack.append(rel)
        try:
            ast = sl.parse(rel, source, dialect=sl.Dialect.extended())
            loader = sl.FileLoader(
                lambda label: self.load_bzl(label, loading_package=package, loading_file=rel)
            )
            sl.eval(module, ast, _GLOBALS, loader)
        finally:
            self._bzl_stack.pop()
        return module.freeze()

    # --- BUILD files ---

    def evaluate_package(self, package: Package) -> None:
        self._current = package
        rel = self._rel(package.build_file)
        module = sl.Module()
        for kind, spec in self.specs.native.items():
            module.add_callable(kind, self._native_recorder(spec))
        module.add_callable("glob", self._glob)
        module.add_callable("select", self._select)
        module.add_callable("exports_files", self._exports_files)
        module.add_callable("package", self._package)
        module.add_callable("licenses", lambda *_: None)
        module.add_callable("Label", self._label_fn(package.name))
        try:
            source = package.build_file.read_text(encoding="utf-8")
            ast = sl.parse(rel, source, dialect=sl.Dialect.standard())
            loader = sl.FileLoader(
                lambda label: self.load_bzl(label, loading_package=package.name, loading_file=rel)
            )
            sl.eval(module, ast, _GLOBALS, loader)
            package.evaluated = True
        except sl.StarlarkError as error:
            self._problem("cannot evaluate: " + first_error_line(error), file=rel)
        finally:
            self._current = None

    def _native_recorder(self, spec: RuleSpec):
        def record(**attrs):
            self.record(spec, attrs, defined_in="the BUILD file")

        return record

    def evaluate(self) -> None:
        for package in self.packages.values():
            self.evaluate_package(package)
        self._evaluate_unloaded_bzl()

    def _evaluate_unloaded_bzl(self) -> None:
        """Every .bzl of a package is evaluated, even one no BUILD file loads yet."""
        for package in self.packages.values():
            directory = package.build_file.parent
            for path in sorted(directory.rglob("*.bzl")):
                rel = self._rel(path)
                if self.is_ignored(rel) or self.package_of_path(rel) != package.name:
                    continue
                name = str(path.relative_to(directory))
                label = f"//{package.name}:{name}"
                if label in self._bzl_cache:
                    continue
                try:
                    self._current = package
                    self._bzl_cache[label] = self._eval_bzl(rel, package.name)
                except sl.StarlarkError as error:
                    self._problem("cannot evaluate: " + first_error_line(error), file=rel)
                finally:
                    self._current = None


def first_error_line(error: Exception) -> str:
    """Starlark's multi-line error as one line: the message and where (file:line:column)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return str(error)
    message = lines[0]
    prefixes = ("StarlarkError:", "error:", "ValueError:")
    while message.startswith(prefixes):
        message = next(message.removeprefix(p).strip() for p in prefixes if message.startswith(p))
    location = next((line for line in lines if line.startswith("-->")), "")
    if location and " at " not in message:
        message = f"{message} (at {location.removeprefix('-->').strip()})"
    return message
