"""What the graph check knows of Bazel's loading phase: packages, targets, source files, labels.

Modelled on Bazel's own rules (each cited where it is used): a package is a directory with a BUILD
file, minus .bazelignore'd ones; a source file is a target of its package only when the package
exports it (exports_files) or one of its own rules names it, and then its visibility is the
exports_files visibility or, for a file only named by a rule, the package's default_visibility.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.bazel.rule_specs import RuleSpec

BUILD_NAMES = ("BUILD.bazel", "BUILD")


@dataclass(frozen=True)
class Problem:
    file: str
    message: str
    target: str | None = None
    attribute: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.target:
            parts.append(f"target :{self.target}")
        if self.attribute:
            parts.append(f"attribute {self.attribute!r}")
        return ": ".join([*parts, self.message])


@dataclass
class Target:
    package: str
    name: str
    kind: str
    attrs: dict[str, Any]
    spec: RuleSpec
    defined_in: str  # the .bzl that made it (macro expansion) or the BUILD file itself


@dataclass
class Package:
    name: str
    build_file: Path
    targets: dict[str, Target] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)
    exported: dict[str, list[str]] = field(default_factory=dict)  # file -> its exports_files visibility
    # Same-package names the package's rules use: Bazel makes each a source-file target
    # (bazelbuild/proposals designs/2019-10-24-file-visibility.md, "implicitly defined targets").
    referenced: set[str] = field(default_factory=set)
    default_visibility: list[str] = field(default_factory=lambda: ["//visibility:private"])
    evaluated: bool = False


def read_ignored(root: Path) -> list[str]:
    path = root / ".bazelignore"
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line.rstrip("/") for line in lines if line and not line.startswith("#")]


def find_packages(root: Path) -> dict[str, Path]:
    """Package name -> BUILD file, skipping .bazelignore'd, hidden and bazel-* directories."""
    ignored = set(read_ignored(root))
    packages: dict[str, Path] = {}

    def walk(directory: Path, rel: str) -> None:
        if rel in ignored:
            return
        for build_name in BUILD_NAMES:
            if (directory / build_name).is_file():
                packages[rel] = directory / build_name
                break
        for child in sorted(directory.iterdir()):
            if child.is_dir() and not child.is_symlink() and not child.name.startswith((".", "bazel-")):
                walk(child, f"{rel}/{child.name}" if rel else child.name)

    walk(root, "")
    return packages


def split_label(text: str, package: str) -> tuple[str, str, str] | None:
    """(repo, package, name) of a label written in `package`; None if it is not a label."""
    repo = ""
    if text.startswith("@"):
        repo, sep, rest = text.lstrip("@").partition("//")
        if not sep:
            return (repo, "", repo)  # "@repo" means "@repo//:repo"
        text = "//" + rest
    if text.startswith("//"):
        pkg, _, name = text[2:].partition(":")
        return (repo, pkg, name or pkg.rsplit("/", 1)[-1])
    if text.startswith(":"):
        return (repo, package, text[1:])
    if text and not text.startswith(("/", ".")) and "//" not in text:
        return (repo, package, text)
    return None


def label_values(kind: str, value) -> list[str]:
    """The label strings in an attribute value of the given rule_attrs type."""
    if kind in ("label", "label_or_value"):
        return [value] if isinstance(value, str) and value else []
    if kind == "label_list":
        return [v for v in value or [] if isinstance(v, str)]
    if kind == "label_keys":
        return [k for k in (value or {}) if isinstance(k, str)]
    if kind == "label_values":
        return [v for v in (value or {}).values() if isinstance(v, str)]
    return []
