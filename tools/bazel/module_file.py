"""Reads MODULE.bazel with starlark-pyo3: bazel_deps, extension tags and use_repo calls.

Module extension proxies are Starlark structs (made by the small prelude below) whose tag
functions record each tag with its attributes; unknown tag classes fail like they would in Bazel,
and tag attributes are checked against tools/bazel/rule_attrs/*.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import starlark as sl

_PRELUDE = """
def use_extension(extension_bzl_file, extension_name, dev_dependency = False, isolate = False):
    ext_id = _py_use_extension(extension_bzl_file, extension_name)

    def tag(name):
        def record(**kwargs):
            _py_tag(ext_id, name, kwargs)

        return record

    return struct(ext_id = ext_id, **{name: tag(name) for name in _py_tag_names(ext_id)})

def use_repo_rule(repo_rule_bzl_file, repo_rule_name):
    def call(**kwargs):
        _py_repo_rule_call(repo_rule_bzl_file, repo_rule_name, kwargs)

    return call

def use_repo(extension_proxy, *args, **kwargs):
    _py_use_repo(extension_proxy.ext_id, list(args) + list(kwargs.keys()))
"""


@dataclass
class Tag:
    extension: str
    name: str
    attrs: dict[str, Any]


@dataclass
class ModuleFile:
    path: Path
    module: dict[str, Any] = field(default_factory=dict)
    bazel_deps: dict[str, dict[str, Any]] = field(default_factory=dict)  # apparent repo name -> attrs
    tags: list[Tag] = field(default_factory=list)
    use_repos: dict[str, list[str]] = field(default_factory=dict)  # extension -> repo names
    # use_repo_rule(bzl, rule) calls: (bzl label, rule name, attrs); each makes repo attrs["name"].
    repo_rule_calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def repos(self) -> set[str]:
        """Every repo name a BUILD or .bzl file may refer to as @name."""
        names = set(self.bazel_deps) | {"bazel_tools", "local_config_platform"}
        for repos in self.use_repos.values():
            names.update(repos)
        names.update(attrs.get("name", "") for _bzl, _rule, attrs in self.repo_rule_calls)
        if self.module.get("name"):
            names.add(self.module.get("repo_name") or self.module["name"])
        return names


def read_module_file(path: Path, extensions: dict[str, dict[str, list[str]]]) -> ModuleFile:
    result = ModuleFile(path)
    ext_names: list[str] = []

    def use_extension(bzl_file: str, name: str) -> int:
        ext_names.append(f"{bzl_file}%{name}")
        if ext_names[-1] not in extensions:
            result.problems.append(
                f"use_extension({bzl_file!r}, {name!r}): no tag list for it in rule_attrs/"
            )
        return len(ext_names) - 1

    def tag_names(ext_id: int) -> list[str]:
        return sorted(extensions.get(ext_names[ext_id], {}))

    def tag(ext_id: int, name: str, attrs: dict[str, Any]) -> None:
        extension = ext_names[ext_id]
        allowed = set(extensions.get(extension, {}).get(name, []))
        for attr in sorted(set(attrs) - allowed):
            result.problems.append(f"{extension} tag {name}(): unknown attribute {attr!r}")
        result.tags.append(Tag(extension, name, attrs))

    def use_repo(ext_id: int, names: list[str]) -> None:
        result.use_repos.setdefault(ext_names[ext_id], []).extend(names)

    def bazel_dep(name, version="", repo_name=None, dev_dependency=False, **_):
        result.bazel_deps[repo_name or name] = {"name": name, "version": version}

    prelude = sl.Module()
    prelude.add_callable("_py_use_extension", use_extension)
    prelude.add_callable("_py_tag_names", tag_names)
    prelude.add_callable("_py_tag", tag)
    prelude.add_callable("_py_use_repo", use_repo)
    prelude.add_callable(
        "_py_repo_rule_call", lambda bzl, rule, attrs: result.repo_rule_calls.append((bzl, rule, attrs))
    )
    globals_ = sl.Globals.extended_by([sl.LibraryExtension.StructType])
    sl.eval(prelude, sl.parse("module_prelude", _PRELUDE, dialect=sl.Dialect.extended()), globals_)
    frozen = prelude.freeze()

    module = sl.Module()
    module.add_callable("module", lambda **kwargs: result.module.update(kwargs))
    module.add_callable("bazel_dep", bazel_dep)
    for ignored in (
        "register_toolchains",
        "register_execution_platforms",
        "single_version_override",
        "multiple_version_override",
        "archive_override",
        "git_override",
        "local_path_override",
        "include",
        "inject_repo",
        "override_repo",
    ):
        module.add_callable(ignored, lambda *args, **kwargs: None)
    source = path.read_text(encoding="utf-8")
    source = 'load("//:module_prelude", "use_extension", "use_repo", "use_repo_rule"); ' + source
    try:
        ast = sl.parse(str(path), source, dialect=sl.Dialect.standard())
        sl.eval(module, ast, globals_, sl.FileLoader(lambda _label: frozen))
    except sl.StarlarkError as error:
        lines = [line for line in str(error).splitlines() if line.startswith("error:")]
        result.problems.append("cannot evaluate: " + (lines[0] if lines else str(error)))
    return result
