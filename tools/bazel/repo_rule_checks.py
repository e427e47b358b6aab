"""MODULE.bazel's use_repo_rule calls (the Debian .debs repository, @debian_bookworm): the .bzl file
defines the rule (tools/bazel/prelude.star records each `repository_rule`), every attribute is one
of its own, and a label attribute names a file that exists."""

from __future__ import annotations

from tools.bazel.module_file import ModuleFile
from tools.bazel.packages import Problem, split_label


def check_repo_rules(module: ModuleFile, workspace) -> list[Problem]:
    """MODULE.bazel's use_repo_rule calls: the .bzl defines the rule, the attributes are its own,
    and a label attribute names an existing file."""
    problems = []
    for bzl, rule, attrs in module.repo_rule_calls:
        parts = split_label(bzl, "")
        rel = f"{parts[1]}/{parts[2]}" if parts and parts[1] else (parts[2] if parts else bzl)
        if not parts or parts[0] or not (workspace.root / rel).is_file():
            problems.append(Problem("MODULE.bazel", f"use_repo_rule({bzl!r}): no such .bzl file"))
            continue
        allowed = workspace.repository_rules.get((rel, rule))
        if allowed is None:
            message = f"use_repo_rule({bzl!r}, {rule!r}): {rel} defines no {rule}"
            problems.append(Problem("MODULE.bazel", message))
            continue
        for attribute in sorted(set(attrs) - allowed - {"name"}):
            message = f"{rule}(): unknown attribute {attribute!r}"
            problems.append(Problem("MODULE.bazel", message, attrs.get("name")))
        for attribute, value in attrs.items():
            label = split_label(value, "") if isinstance(value, str) and value.startswith("//") else None
            if label and not (workspace.root / label[1] / label[2]).is_file():
                problems.append(
                    Problem("MODULE.bazel", f"{value!r} does not exist", attrs.get("name"), attribute)
                )
    return problems
