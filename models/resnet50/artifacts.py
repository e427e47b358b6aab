"""Builds the resnet50 artifact: the SavedModel TF Serving loads, and a metadata.json describing it.

``python -m tools artifacts //models/resnet50:savedmodel`` calls ``build(out_dir)``, which runs
``models/resnet50/export.py`` in a child process: with this interpreter when it has tensorflow
(Bazel's action, the tf venv), else with ``.venvs/tf/bin/python``, so tensorflow never has to be in
the tools venv. Out dir: ``resnet50/1/`` (saved_model.pb, variables/, fingerprint.pb) and
``metadata.json``. The image copies ``resnet50/`` to ``/models/resnet50``.

Weights: ``RESNET50_WEIGHTS=/path/to/weights.h5`` exports those (any Keras ResNet50 weights file on
this disk); unset, the weights are random with a fixed seed. The artifact cache keys on source
files only, so after changing RESNET50_WEIGHTS rebuild with ``--force``; metadata.json records
the weights file's sha256 so the artifact always says what it holds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from tools.errors import UserError
from tools.hashing import file_sha256
from tools.paths import REPO_ROOT

SOURCES = ("models/resnet50/export.py",)
WEIGHTS_ENV = "RESNET50_WEIGHTS"
TF_VENV_PYTHON = REPO_ROOT / ".venvs" / "tf" / "bin" / "python"
VERSION = 1


def tensorflow_python() -> Path:
    """An interpreter that can import tensorflow: this one if it can, else the tf venv's."""
    if importlib.util.find_spec("tensorflow") is not None:
        return Path(sys.executable)
    if TF_VENV_PYTHON.exists():
        return TF_VENV_PYTHON
    raise UserError(
        f"tensorflow is not importable here and {TF_VENV_PYTHON} is missing: run ./dev setup --all"
    )


def weights_file() -> Path | None:
    value = os.environ.get(WEIGHTS_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise UserError(f"{path} is not a file", field=WEIGHTS_ENV)
    return path.resolve()


def run_export(out_dir: Path, weights: Path | None) -> dict:
    """Runs the export in a child process; returns the JSON description it prints."""
    command = [str(tensorflow_python()), "-m", "models.resnet50.export", str(out_dir), f"--version={VERSION}"]
    if weights is not None:
        command.append(f"--weights={weights}")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    # TF's C++ start-up lines come first on stderr; the export's own error is the last "error: " line.
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    if result.returncode == 2 and errors:
        raise UserError(errors[-1].removeprefix("error: "), field=WEIGHTS_ENV)
    if result.returncode != 0:
        raise RuntimeError(f"resnet50 export failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def build(out_dir: Path) -> None:
    weights = weights_file()
    description = run_export(out_dir, weights)
    if weights is not None:
        description["weights"] = {"file": weights.name, "sha256": file_sha256(weights)}
    saved_model = out_dir / description["path"] / "saved_model.pb"
    if not saved_model.is_file():
        raise RuntimeError(f"the export reported success but wrote no {saved_model}")
    version_dir = saved_model.parent
    description["bytes"] = sum(f.stat().st_size for f in version_dir.rglob("*") if f.is_file())
    (out_dir / "metadata.json").write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")
