"""A throwaway copy of the repo's data (platform/, models/, runtimes/) for tests that add or break files.

Only data and the runtimes' config templates are copied; the code (``tools``, the runtime hooks)
is still imported from the real repo, exactly as rendering does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tools.paths import REPO_ROOT

_SKIP = shutil.ignore_patterns("__pycache__", "tests", "*.py", "*.pt", "*.onnx", "weights")


def copy_repo_data(dest: Path) -> Path:
    for top in ("platform", "models", "runtimes"):
        shutil.copytree(REPO_ROOT / top, dest / top, ignore=_SKIP)
    return dest


def read(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
