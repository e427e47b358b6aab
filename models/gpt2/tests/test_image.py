"""The gpt2 image: the Triton launcher on the model repository, and the container generating text
(podman, pulled by digest from a real registry) with the config the manifests mount for CPU."""

from __future__ import annotations

import time

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

GPT2 = Label("models/gpt2", "image")
TRITON_LOCK = REPO_ROOT / "third_party/python/requirements_triton.lock"


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
def gpt2(repo_build_dir):
    if not TRITON_LOCK.exists():
        pytest.skip(f"{TRITON_LOCK.relative_to(REPO_ROOT)} is not generated yet (./dev lock makes it)")
    return build_image(GPT2)


def test_gpt2_runs_the_launcher_on_the_model_repository(gpt2, tmp_path_factory):
    config = read_manifest(gpt2.layout_dir)[2]["config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["python3", "-m", "runtimes.triton.launcher"]
    assert config["Cmd"] == ["--model-repository=/models", "--address=0.0.0.0"]
    assert config["ExposedPorts"] == {"8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}}
    rootfs = tmp_path_factory.mktemp("gpt2-rootfs")
    unpack(gpt2.layout_dir, read_manifest(gpt2.layout_dir)[1], rootfs)
    assert (rootfs / "models/gpt2/1/model.py").is_file()
    assert (rootfs / "models/gpt2/1/weights/config.json").is_file()
    site = rootfs / "usr/local/lib/python3.11/dist-packages"
    assert (site / "pytriton/tritonserver/bin/tritonserver").is_file()
    assert (site / "pytriton/tritonserver/python_backend_stubs/3.11/triton_python_backend_stub").is_file()
    assert (rootfs / "app/runtimes/triton/launcher.py").is_file()


@pytest.mark.slow
def test_gpt2_container_generates_text(gpt2, tmp_path_factory, podman_storage):
    from models.gpt2.client import generate
    from runtimes.triton.deploy_config import config_files
    from tools.oci import registry

    # What the manifests mount over /models/gpt2/config.pbtxt for a CPU environment.
    config_dir = tmp_path_factory.mktemp("gpt2-config")
    (config_dir / "config.pbtxt").write_text(
        config_files(REPO_ROOT / "models/gpt2", "gpt2", gpu=False)["config.pbtxt"]
    )
    state_dir = tmp_path_factory.mktemp("gpt2-registry")
    state = registry.start(free_port(), state_dir=state_dir)
    try:
        pushed = push_image(GPT2, state.address)
        http, grpc, metrics = free_port(), free_port(), free_port()
        options = (
            "--tmpfs",
            "/tmp:rw,size=1g,mode=1777",
            "--volume",
            f"{config_dir / 'config.pbtxt'}:/models/gpt2/config.pbtxt:ro",
        )
        args = (
            "--model-repository=/models",
            "--address=127.0.0.1",
            f"--http-port={http}",
            f"--grpc-port={grpc}",
            f"--metrics-port={metrics}",
        )
        server = podman_run(podman_storage, pushed.reference, *args, options=options, detach=True)
        try:
            deadline = time.monotonic() + 120
            ready = False
            while time.monotonic() < deadline and server.poll() is None and not ready:
                try:
                    ready = (
                        httpx.get(f"http://127.0.0.1:{http}/v2/health/ready", timeout=2).status_code == 200
                    )
                except httpx.HTTPError:
                    time.sleep(0.5)
            assert ready, server.stop()[-3000:]
            texts = generate(f"http://127.0.0.1:{http}", ["Once upon a time"], max_new_tokens=8)
            assert len(texts) == 1 and texts[0]
        finally:
            server.stop()
    finally:
        registry.stop(state_dir=state_dir)


@pytest.mark.slow
def test_the_init_container_verifies_the_weights_inside_the_image(
    gpt2, tmp_path, tmp_path_factory, podman_storage, monkeypatch
):
    """The rendered init container's command, run by podman in the gpt2 image itself (uid 65532,
    read-only root, /tmp only, as the pod runs it) on an image whose weights the builder signed:
    passes with the model key's public half, fails with another key."""
    import json

    import yaml

    from tools.k8s.render import workload
    from tools.k8s.render.inputs import load_inputs
    from tools.oci import registry
    from tools.supply import keys

    for name in ("model", "other"):
        keys.generate(tmp_path / f"{name}.key", tmp_path / f"{name}.pub", "test passphrase")
    policy = yaml.safe_load((REPO_ROOT / "platform/supply-chain.yaml").read_text())
    policy["models"]["publicKey"] = str(tmp_path / "model.pub")
    (tmp_path / "supply-chain.yaml").write_text(yaml.safe_dump(policy))
    monkeypatch.setenv("CF_SUPPLY_CHAIN_FILE", str(tmp_path / "supply-chain.yaml"))
    monkeypatch.setenv(policy["models"]["signingKey"]["pathEnv"], str(tmp_path / "model.key"))
    monkeypatch.setenv(policy["models"]["signingKey"]["passphraseEnv"], "test passphrase")
    (init,) = workload.init_containers(load_inputs("gpt2", "staging"))
    key_path = f"{workload.MODEL_KEY_DIR}/{workload.MODEL_KEY_FILE}"
    state_dir = tmp_path_factory.mktemp("gpt2-signed-registry")
    state = registry.start(free_port(), state_dir=state_dir)
    try:
        signed = build_image(GPT2)
        assert signed.digest != gpt2.digest  # model.sig is in the artifacts layer
        pushed = push_image(GPT2, state.address)
        results = {}
        for name in ("model", "other"):
            options = (
                "--tmpfs", "/tmp:rw,size=64m,mode=1777",
                "--volume", f"{tmp_path / f'{name}.pub'}:{key_path}:ro",
                "--entrypoint", json.dumps(init["command"]),
            )  # fmt: skip
            results[name] = podman_run(podman_storage, pushed.reference, options=options, timeout=300)
    finally:
        registry.stop(state_dir=state_dir)
        monkeypatch.delenv(policy["models"]["signingKey"]["pathEnv"])
        build_image(GPT2)  # the checkout's layout and digest file back to the unsigned image
    said = {name: (r.stdout + r.stderr).strip() for name, r in results.items()}
    assert results["model"].returncode == 0 and "Verification succeeded" in said["model"], said["model"]
    assert results["other"].returncode != 0 and "Verification failed" in said["other"], said["other"]
