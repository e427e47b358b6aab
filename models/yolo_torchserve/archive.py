"""Builds ``yolo.mar``: the yolo ONNX export and this package's handler, packed by torch-model-archiver.

``python -m tools artifacts //models/yolo_torchserve:archive`` calls ``build(out_dir)``. The weights
are ``//models/yolo:weights`` (built or reused through the same cache); the archive holds
``model.onnx`` (the ``--serialized-file``), ``handler.py`` and ``metadata.json`` (class names, source,
licence). torch-model-archiver 0.12 stamps ``createdOn`` (wall-clock time) into MAR-INF/MANIFEST.json
and each zip entry's mtime, so two builds differ; ``normalize_archive`` rewrites the zip with a fixed
``createdOn``, fixed timestamps and modes and sorted entries: the same inputs give the same bytes.

Out dir: ``yolo.mar`` and ``archive.json`` (its sha256 and the weights' hashes it was made from).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tools.artifacts import build_artifacts
from tools.hashing import file_sha256
from tools.k8s.schema.specs import load_model

SOURCES = ("models/yolo_torchserve/handler.py", "models/yolo/artifacts.py", "models/yolo/export.py")
WEIGHTS = "//models/yolo:weights"
MODEL_NAME = "yolo"  # TorchServe's name for it: /predictions/yolo, /models/yolo
HANDLER = Path(__file__).resolve().parent / "handler.py"
# The zip format's earliest date, as reproducible Python wheels use; createdOn in TorchServe's format.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
CREATED_ON = "01/01/1980 00:00:00"


def run_archiver(weights: Path, version: str, export_dir: Path) -> Path:
    """torch-model-archiver itself (its console-script entry point, in this interpreter)."""
    argv = [
        "torch-model-archiver",
        f"--model-name={MODEL_NAME}",
        f"--version={version}",
        f"--serialized-file={weights / 'model.onnx'}",
        f"--handler={HANDLER}",
        f"--extra-files={weights / 'metadata.json'}",
        f"--export-path={export_dir}",
    ]
    code = (
        "import sys; from model_archiver.model_packaging import generate_model_archive as run; "
        "sys.argv = %r; run()"
    )
    # The archiver stages files in $TMPDIR/<model name>, a fixed path: two builds at once (two
    # checkouts, or the reproducibility check's parallel builds) would write into each other's.
    staging = export_dir / "staging"
    staging.mkdir()
    env = {**os.environ, "TMPDIR": str(staging)}
    result = subprocess.run([sys.executable, "-c", code % argv], capture_output=True, text=True, env=env)
    archive = export_dir / f"{MODEL_NAME}.mar"
    if result.returncode != 0 or not archive.is_file():
        raise RuntimeError(f"torch-model-archiver failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return archive


def normalize_archive(source: Path, dest: Path) -> None:
    """Rewrites the archive byte-for-byte reproducibly; the content TorchServe reads is unchanged."""
    with zipfile.ZipFile(source) as original:
        entries = {info.filename: original.read(info) for info in original.infolist() if not info.is_dir()}
    manifest = json.loads(entries["MAR-INF/MANIFEST.json"])
    manifest["createdOn"] = CREATED_ON
    entries["MAR-INF/MANIFEST.json"] = (json.dumps(manifest, indent=2) + "\n").encode()
    with zipfile.ZipFile(dest, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            # Stored, not deflated: the image layer is gzipped anyway, and TorchServe unpacks faster.
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever the build machine is
            archive.writestr(info, entries[name])


def build(out_dir: Path) -> None:
    weights = build_artifacts(WEIGHTS)
    version = load_model("yolo-torchserve").version
    with tempfile.TemporaryDirectory() as tmp:
        normalize_archive(run_archiver(weights, version, Path(tmp)), out_dir / f"{MODEL_NAME}.mar")
    record = {
        "archive": f"{MODEL_NAME}.mar",
        "sha256": file_sha256(out_dir / f"{MODEL_NAME}.mar"),
        "model_name": MODEL_NAME,
        "version": version,
        "made_with": "torch-model-archiver 0.12.0, then normalize_archive (fixed createdOn and zip times)",
        "from": {name: file_sha256(weights / name) for name in ("model.onnx", "metadata.json")},
    }
    (out_dir / "archive.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
