"""The yolo image: built from this package's own BUILD description, its structure, and the
container serving a real image (podman, pulled by digest from a real registry, locked down).

Uses the checkout's own build dir (.build) so the pip and artifact layers are shared with
development and CI's earlier steps instead of rebuilt.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tools.labels import Label
from tools.oci.builder import build_image
from tools.oci.layout import read_manifest
from tools.oci.push import push_image
from tools.paths import REPO_ROOT
from tools.testing.images import checkout_build_dir, podman_run, private_podman_storage, unpack
from tools.testing.ports import free_port

pytestmark = pytest.mark.container  # also run in the pristine root (./dev rehearse)

YOLO = Label("models/yolo", "image")
FASTAPI_LOCK = REPO_ROOT / "third_party/python/requirements_fastapi.lock"
BUS = REPO_ROOT / ".venvs/dev/lib/python3.11/site-packages/ultralytics/assets/bus.jpg"


@pytest.fixture(scope="module")
def repo_build_dir():
    """The checkout's own .build for this module (the tools/oci tests use a private one)."""
    with checkout_build_dir():
        yield


@pytest.fixture
def podman_storage(tmp_path_factory):
    with private_podman_storage(tmp_path_factory.mktemp("podman")) as storage:
        yield storage


@pytest.fixture(scope="module")
def yolo(repo_build_dir):
    if not FASTAPI_LOCK.exists():
        pytest.skip(f"{FASTAPI_LOCK.relative_to(REPO_ROOT)} is not generated yet (./dev lock makes it)")
    return build_image(YOLO)


@pytest.fixture(scope="module")
def yolo_rootfs(yolo, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("yolo-rootfs")
    unpack(yolo.layout_dir, read_manifest(yolo.layout_dir)[1], dest)
    return dest


def test_yolo_config_matches_the_runtime_contract(yolo):
    config = read_manifest(yolo.layout_dir)[2]["config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["python3", "-m", "runtimes.fastapi"]
    assert config["ExposedPorts"] == {"8000/tcp": {}, "8001/tcp": {}}  # HTTP and V2 gRPC
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["MODEL_NAME"] == "yolo"
    assert env["MODEL_HANDLER"] == "models.yolo.handler:YOLOModelHandler"
    assert env["MODEL_PATH"] == "/models/yolo/model.xml"
    assert env["SERVER_PORT"] == "8000" and env["SERVER_GRPC_PORT"] == "8001"
    assert config["Labels"]["org.opencontainers.image.version"] == "1"
    kinds = [what.split()[0] for what, _ in yolo.layers]
    # The fastapi runtime's image (base, interpreter, its lock, the server) and then the model's own.
    assert kinds == ["debian", "debian", "pip", "app:", "artifacts", "app:"]


def test_yolo_carries_openvino_not_torch(yolo_rootfs):
    assert (yolo_rootfs / "models/yolo/model.xml").is_file()
    assert (yolo_rootfs / "models/yolo/model.bin").is_file()
    assert (yolo_rootfs / "models/yolo/metadata.json").is_file()
    assert not (yolo_rootfs / "models/yolo/model.pt").exists()
    assert not (yolo_rootfs / "models/yolo/model.onnx").exists()
    site = yolo_rootfs / "usr/local/lib/python3.11/dist-packages"
    assert (site / "openvino").is_dir() and (site / "fastapi").is_dir() and (site / "grpc").is_dir()
    for heavy in ("torch", "torchvision", "ultralytics", "cv2", "nvidia", "onnxruntime"):
        assert not (site / heavy).exists(), heavy
    app = yolo_rootfs / "app"
    assert (app / "runtimes/fastapi/__main__.py").is_file()
    assert (app / "models/yolo/handler.py").is_file()
    assert not list(app.rglob("tests")), "test code is not shipped"
    assert not list(app.rglob("__pycache__"))


@pytest.mark.slow
def test_yolo_container_serves_a_real_image(yolo, tmp_path_factory, podman_storage):
    from tools.oci import registry

    state_dir = tmp_path_factory.mktemp("yolo-registry")
    state = registry.start(free_port(), state_dir=state_dir)
    try:
        pushed = push_image(YOLO, state.address)
        port = free_port()
        # Host networking here: the image's gRPC port (8001) would be shared with the machine.
        options = ("--env", f"SERVER_PORT={port}", "--env", f"SERVER_GRPC_PORT={free_port()}")
        options += ("--env", "SERVER_HOST=127.0.0.1")
        server = podman_run(podman_storage, pushed.reference, options=options, detach=True)
        try:
            deadline = time.monotonic() + 90
            ready = False
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200
                except httpx.HTTPError:
                    ready = False
                if ready:
                    break
                time.sleep(0.25)
            assert ready, server.stop()[-3000:]
            response = httpx.post(
                f"http://127.0.0.1:{port}/predict",
                files={"file": ("bus.jpg", BUS.read_bytes(), "image/jpeg")},
                timeout=60,
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["model_name"] == "yolo"
            assert len(body["detections"]) >= 3  # the trained checkpoint finds the people on bus.jpg
            bad = httpx.post(
                f"http://127.0.0.1:{port}/predict", files={"file": ("x.jpg", b"nope", "image/jpeg")}
            )
            assert 400 <= bad.status_code < 500 and "error" in bad.json()
        finally:
            server.stop()
    finally:
        registry.stop(state_dir=state_dir)
