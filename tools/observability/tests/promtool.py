"""Runs Debian's promtool (``check rules``, ``test rules``) on rule groups, for the tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is missing: ./dev setup installs Debian's prometheus (tools/setup/apt-packages.txt)"
        )
    return found


def write_rules(groups: list[dict], path: Path) -> Path:
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def check_rules(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )


def test_rules(rules: Path, tests: list[dict], path: Path) -> subprocess.CompletedProcess:
    """``promtool test rules`` over ``rules`` with the given test cases (evaluation every minute)."""
    path.write_text(
        yaml.safe_dump(
            {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}, sort_keys=False
        )
    )
    return subprocess.run(
        [promtool(), "test", "rules", path.name], capture_output=True, text=True, timeout=120, cwd=path.parent
    )


test_rules.__test__ = False  # a helper, not a pytest test


def expressions_as_rules(name: str, expressions: list[str]) -> list[dict]:
    """Queries (dashboard panels, adapter rules) as recording rules, so promtool parses each one."""
    return [
        {
            "name": name,
            "rules": [{"record": f"check:query:{i}", "expr": e} for i, e in enumerate(expressions)],
        }
    ]
