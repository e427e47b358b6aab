"""Cross-checks rule_attrs/*.json against a git checkout of the rule set, at the pinned commit.

    python -m tools.bazel.verify_rule_attrs rules_oci=/path/to/rules_oci.git [...]

For every attribute the JSON lists, the rule set's .bzl files at the commit the JSON names must
mention it (as a quoted attrs-dict key or a macro parameter). It catches a mistyped or invented
attribute in our lists; it cannot prove a list complete. Needs the checkouts, so it is run by hand
(where `fetch` or git can reach the repositories), not by the test suite.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tools.bazel.rule_specs import RULE_ATTRS_DIR

_COMMIT = re.compile(r"commit ([0-9a-f]{40})")


def bzl_text(git_dir: Path, commit: str) -> str:
    names = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", commit],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    texts = []
    for name in names:
        if name.endswith(".bzl"):
            texts.append(
                subprocess.run(
                    ["git", "--git-dir", str(git_dir), "show", f"{commit}:{name}"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
    return "\n".join(texts)


def verify(json_path: Path, git_dir: Path) -> list[str]:
    data = json.loads(json_path.read_text(encoding="utf-8"))
    match = _COMMIT.search(data["source"])
    if not match:
        return [f"{json_path.name}: source names no commit"]
    text = bzl_text(git_dir, match[1])
    missing = []
    for file_label, symbols in data.get("files", {}).items():
        for symbol, entry in symbols.items():
            if not re.search(rf"\b{re.escape(symbol)}\b", text):
                missing.append(f"{json_path.name}: {file_label} {symbol}: not found at {match[1][:12]}")
            for attr in entry.get("attrs", {}):
                if not re.search(rf"[\"']{re.escape(attr)}[\"']|\b{re.escape(attr)}\s*=", text):
                    missing.append(f"{json_path.name}: {symbol}.{attr}: not found at {match[1][:12]}")
    for extension, entry in data.get("module_extensions", {}).items():
        for tag, attrs in entry["tags"].items():
            for attr in attrs:
                if not re.search(rf"[\"']{re.escape(attr)}[\"']", text):
                    missing.append(f"{json_path.name}: {extension} {tag}.{attr}: not found")
    return missing


def main(argv: list[str]) -> int:
    problems = []
    for arg in argv:
        repo, _, git_dir = arg.partition("=")
        problems += verify(RULE_ATTRS_DIR / f"{repo}.json", Path(git_dir))
    for problem in problems:
        print(problem)
    print(f"{len(problems)} attribute(s) not found", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
