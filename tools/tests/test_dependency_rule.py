"""The dependency rule of docs/ARCHITECTURE.md, checked on the source: tools never imports a model
or a runtime (they are plug-ins, loaded by the module path their YAML names), and only the target
factory branches on the kind of cluster."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tools.paths import REPO_ROOT

TOOLS = REPO_ROOT / "tools"


def tools_modules() -> list[Path]:
    """tools' own code: everything but tests and test fixtures."""
    return [p for p in sorted(TOOLS.rglob("*.py")) if "tests" not in p.relative_to(TOOLS).parts]


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_tools_never_imports_models_or_runtimes():
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(imported_roots(path) & {"models", "runtimes"})
        for path in tools_modules()
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) > 50, "the scan found tools' modules"


def test_only_the_factory_branches_on_the_cluster_kind():
    branching = re.compile(r"cluster\.kind\s*[!=]=|is_local\b(?!_registry)")
    found = sorted(
        str(path.relative_to(REPO_ROOT))
        for path in tools_modules()
        if branching.search(path.read_text(encoding="utf-8"))
    )
    # environments.py validates data (host ports only for podman); it decides no behaviour.
    # local_prometheus refuses any environment but this machine's: an input check, not a branch.
    assert found == [
        "tools/deploy/factory.py",
        "tools/k8s/schema/environments.py",
        "tools/observability/local_prometheus.py",
    ]
