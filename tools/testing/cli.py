"""Running the real servectl CLI from tests, as a user would: a subprocess of ``python -m tools``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tools.paths import REPO_ROOT


def servectl(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python -m tools ARGS`` in ``cwd`` (a repo root), with ``env`` added to this environment."""
    return subprocess.run(
        [sys.executable, "-m", "tools", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
