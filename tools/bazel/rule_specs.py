"""What the pinned external rules accept: the attribute lists in tools/bazel/rule_attrs/*.json.

Each JSON file was written from the rule set's own sources at the tag MODULE.bazel pins (the file
says which tag, commit and source file). The graph check (tools/bazel/graph.py) uses them to
reject a call with an attribute the pinned version does not have, and to know which attributes
hold labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

RULE_ATTRS_DIR = Path(__file__).resolve().parent / "rule_attrs"

# Attribute types in the JSON files, and how the label check treats them.
LABEL_TYPES = {"label", "label_list", "label_keys", "label_values", "label_or_value"}
OUTPUT_TYPES = {"output", "output_list"}


@dataclass
class RuleSpec:
    kind: str
    attrs: dict[str, str]
    source: str
    executable: bool = False
    test: bool = False
    creates: list[str] = field(default_factory=list)
    # Our own rules: attributes callers must not set (private `_attrs`) are simply not in attrs.


@dataclass
class RuleSpecs:
    # "@rules_oci//oci:defs.bzl" -> {"oci_image": RuleSpec, ...}; non-rule symbols map to None.
    files: dict[str, dict[str, RuleSpec | None]]
    # "@rules_oci//oci:extensions.bzl%oci" -> {"pull": [attr names], ...}
    extensions: dict[str, dict[str, list[str]]]
    # repo name -> version the lists were read at
    versions: dict[str, str]
    native: dict[str, RuleSpec]
    common_attrs: set[str]
    test_attrs: set[str]
    executable_attrs: set[str]

    def allowed_attrs(self, spec: RuleSpec) -> set[str]:
        allowed = set(spec.attrs) | self.common_attrs
        if spec.test:
            allowed |= self.test_attrs
        if spec.executable:
            allowed |= self.executable_attrs
        return allowed


def _spec(kind: str, entry: dict, source: str) -> RuleSpec:
    return RuleSpec(
        kind=kind,
        attrs=dict(entry.get("attrs", {})),
        source=f"{source}; {entry.get('read_from', '')}".strip("; "),
        executable=bool(entry.get("executable")),
        test=bool(entry.get("test")),
        creates=list(entry.get("creates", [])),
    )


def load_rule_specs(directory: Path = RULE_ATTRS_DIR) -> RuleSpecs:
    files: dict[str, dict[str, RuleSpec | None]] = {}
    extensions: dict[str, dict[str, list[str]]] = {}
    versions: dict[str, str] = {}
    native: dict[str, RuleSpec] = {}
    common = test = executable = set()
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        source = f"{data['repo']} {data['version']} ({path.name})"
        if data["repo"] == "bazel":
            common = set(data["common_attrs"])
            test = set(data["test_attrs"])
            executable = set(data["executable_attrs"])
            native = {kind: _spec(kind, entry, source) for kind, entry in data["native_rules"].items()}
            continue
        versions[data["repo"]] = data["version"]
        for file_label, symbols in data.get("files", {}).items():
            files[file_label] = {
                kind: None if entry.get("function") or entry.get("value") else _spec(kind, entry, source)
                for kind, entry in symbols.items()
            }
        for ext, entry in data.get("module_extensions", {}).items():
            extensions[ext] = entry["tags"]
    return RuleSpecs(files, extensions, versions, native, common, test, executable)
