"""yolo.mar: made by torch-model-archiver from //models/yolo:weights, byte-for-byte reproducible."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from models.yolo_torchserve import archive
from tools.hashing import file_sha256
from tools.paths import REPO_ROOT

ARTIFACTS_MAIN = REPO_ROOT / "tools" / "bazel" / "artifacts_main.py"


def test_two_builds_at_once_give_the_same_bytes(tmp_path, weights):
    # At once: torch-model-archiver stages in $TMPDIR/<model name>, so parallel builds collided
    # (seen: FileNotFoundError for /tmp/yolo/metadata.json) until each got its own TMPDIR.
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        out.mkdir()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(archive.build, (first, second)))
    assert (first / "yolo.mar").read_bytes() == (second / "yolo.mar").read_bytes()
    assert (first / "archive.json").read_bytes() == (second / "archive.json").read_bytes()


def test_the_archiver_alone_is_not_reproducible_so_the_normalization_is_needed(tmp_path, weights):
    # torch-model-archiver stamps the wall clock into the manifest and the zip entries: without
    # normalize_archive two builds a second apart differ. If this ever passes, drop the normalization.
    raw = archive.run_archiver(weights, "1", tmp_path)
    with zipfile.ZipFile(raw) as mar:
        manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))
        assert manifest["createdOn"] != archive.CREATED_ON
        assert {info.date_time for info in mar.infolist()} != {archive.ZIP_EPOCH}


def test_archive_holds_the_onnx_export_the_handler_and_a_manifest_torchserve_reads(archive_dir, weights):
    with zipfile.ZipFile(archive_dir / "yolo.mar") as mar:
        names = sorted(mar.namelist())
        manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))
        onnx = mar.read("model.onnx")
        handler = mar.read("handler.py")
    assert names == ["MAR-INF/MANIFEST.json", "handler.py", "metadata.json", "model.onnx"]
    assert manifest["model"] == {
        "modelName": "yolo",
        "serializedFile": "model.onnx",
        "handler": "handler.py",
        "modelVersion": "1",
    }
    assert manifest["archiverVersion"] == "0.12.0"
    assert onnx == (weights / "model.onnx").read_bytes()
    assert handler == archive.HANDLER.read_bytes()
    record = json.loads((archive_dir / "archive.json").read_text())
    assert record["sha256"] == file_sha256(archive_dir / "yolo.mar")
    assert record["from"]["model.onnx"] == file_sha256(weights / "model.onnx")


def _artifacts_action(*args: str, build_dir: Path) -> subprocess.CompletedProcess:
    """The ModelArtifacts action of :archive (tools/artifacts/private/model_artifacts.bzl): the
    builder runs artifacts_main with --module, --out and one --prebuilt per model_artifacts in srcs."""
    # The py_binary builder puts the repo root on the import path, as PYTHONPATH does here.
    env = {**os.environ, "CF_BUILD_DIR": str(build_dir), "PYTHONHASHSEED": "0", "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, str(ARTIFACTS_MAIN), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=600)


def test_bazel_action_archives_the_weights_bazel_built_into_the_same_mar(tmp_path, weights, archive_dir):
    # The weights as Bazel's //models/yolo:weights action left them (a copy elsewhere), and an empty
    # build dir: the action must archive these, not export the weights again inside itself.
    bazel_weights = tmp_path / "bazel-out" / "weights"
    shutil.copytree(weights, bazel_weights)
    out, build_dir = tmp_path / "archive", tmp_path / "build"
    result = _artifacts_action(
        "--module",
        "models.yolo_torchserve.archive",
        "--out",
        str(out),
        "--prebuilt",
        f"//models/yolo:weights={bazel_weights}",
        build_dir=build_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (build_dir / "artifacts" / "models" / "yolo").exists()
    assert (out / "yolo.mar").read_bytes() == (archive_dir / "yolo.mar").read_bytes()


def test_bazel_action_refuses_a_prebuilt_that_is_not_a_directory(tmp_path):
    result = _artifacts_action(
        "--module",
        "models.yolo_torchserve.archive",
        "--out",
        str(tmp_path / "out"),
        "--prebuilt",
        f"//models/yolo:weights={tmp_path / 'missing'}",
        build_dir=tmp_path / "build",
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: --prebuilt") and "Traceback" not in result.stderr
