"""Model artifacts (weights, exported models) as cached build outputs.

A package declares ``model_artifacts(name = "weights", module = "models.yolo.artifacts")`` in its
BUILD file. The module has ``build(out_dir: pathlib.Path) -> None`` writing every file the model
needs into ``out_dir``, and may list extra input files in ``SOURCES`` (paths relative to the repo
root). The result lands in ``.build/artifacts/<package>/<name>/`` and is rebuilt only when the
module's source or its SOURCES change: the cache key is their sha256, written into ``.key``.
A failed or interrupted build never leaves a half-written directory behind.

Under Bazel, an artifact built from another (``//models/yolo_torchserve:archive`` from
``//models/yolo:weights``) gets that one as an input of its action: ``CF_PREBUILT_ARTIFACTS``
(JSON, label -> directory, set by tools/bazel/artifacts_main.py) names the directory Bazel built,
and ``build_artifacts`` returns it instead of building it again inside the action.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from tools.bazel.build_file import read_target
from tools.errors import UserError
from tools.labels import Label
from tools.paths import REPO_ROOT, artifact_dir

log = logging.getLogger(__name__)

KEY_FILE = ".key"
PREBUILT_ENV = "CF_PREBUILT_ARTIFACTS"


def _prebuilt(label: Label) -> Path | None:
    """The directory Bazel built for ``label`` and handed to this action, if any."""
    prebuilt = json.loads(os.environ.get(PREBUILT_ENV) or "{}")
    path = prebuilt.get(str(label))
    if path is None:
        return None
    if not Path(path).is_dir():
        raise UserError(f"{PREBUILT_ENV} names {path} for {label}, which is not a directory")
    return Path(path)


def _cache_key(module_name: str, module) -> str:
    digest = hashlib.sha256()
    files = [Path(module.__file__)] + [REPO_ROOT / s for s in getattr(module, "SOURCES", ())]
    for path in files:
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_artifacts(label: Label | str, *, force: bool = False) -> Path:
    """Builds (or reuses) the artifacts of a ``model_artifacts`` target; returns their directory."""
    target = read_target(label)
    if target.kind != "model_artifacts":
        raise UserError(f"{target.label} is a {target.kind}, not a model_artifacts target")
    prebuilt = _prebuilt(target.label)
    if prebuilt is not None:
        log.info("%s: built by Bazel (%s)", target.label, prebuilt)
        return prebuilt
    module_name = target.attrs.get("module")
    module = importlib.import_module(module_name)
    key = _cache_key(module_name, module)
    out_dir = artifact_dir(target.label)
    key_file = out_dir / KEY_FILE
    if not force and key_file.exists() and key_file.read_text() == key:
        log.info("%s: up to date (%s)", target.label, out_dir)
        return out_dir
    log.info("%s: building with %s", target.label, module_name)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.") as tmp:
        staging = Path(tmp) / "out"
        staging.mkdir()
        module.build(staging)
        (staging / KEY_FILE).write_text(key)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    return out_dir
