"""TorchServe is not ours, so where an environment verifies model signatures an init container
checks the model store first (runtimes/torchserve/runtime.yaml ``modelSignature``). This test does
what the kubelet does with the Deployment staging renders, with podman and the real image: the
yolo-torchserve image built with the builder's model signing (a throwaway key), pushed to a real
registry, pulled by digest; the rendered init container's command run in it (uid 65532, read-only
root, /tmp only, the public key mounted where the ConfigMap puts it), and the server container
started only if that exits 0. Intact: the init container passes and the server answers bus.jpg.
yolo.mar with one flipped byte mounted where the server would load it: the init container fails
with model-signing's own line naming the file, and the server never starts. The wrong key fails too.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml

from models.yolo_torchserve.tests.served import loopback_api_args, predict_when_up
from tools.labels import Label
from tools.oci.builder import build_image
from tools.oci.layout import read_manifest
from tools.oci.push import push_image
from tools.paths import REPO_ROOT
from tools.testing.images import checkout_build_dir, layer_files, podman_run, private_podman_storage
from tools.testing.ports import free_port

pytestmark = [pytest.mark.container, pytest.mark.slow]  # builds the image, runs podman

IMAGE = Label.parse("//models/yolo_torchserve:image")
MODEL = "yolo-torchserve"
PASSPHRASE = "test passphrase"


@pytest.fixture(scope="module")
def signed_image(tmp_path_factory):
    """(reference pulled by digest, the model key's public half, another key's, yolo.mar's bytes):
    the image built with CF_MODEL_SIGNING_KEY set, as a staging/prod build is; the checkout's layout
    goes back to the unsigned image afterwards."""
    from tools.oci import registry
    from tools.supply import keys

    tmp = tmp_path_factory.mktemp("signed-torchserve")
    for name in ("model", "other"):
        keys.generate(tmp / f"{name}.key", tmp / f"{name}.pub", PASSPHRASE)
    policy = yaml.safe_load((REPO_ROOT / "platform/supply-chain.yaml").read_text())
    policy["models"]["publicKey"] = str(tmp / "model.pub")
    (tmp / "supply-chain.yaml").write_text(yaml.safe_dump(policy))
    signing = policy["models"]["signingKey"]
    with pytest.MonkeyPatch.context() as env, checkout_build_dir():
        env.setenv("CF_SUPPLY_CHAIN_FILE", str(tmp / "supply-chain.yaml"))
        state_dir = tmp / "registry"
        state = registry.start(free_port(), state_dir=state_dir)
        try:
            env.setenv(signing["pathEnv"], str(tmp / "model.key"))
            env.setenv(signing["passphraseEnv"], PASSPHRASE)
            signed = build_image(IMAGE)
            _, contents = layer_files(signed.layout_dir, read_manifest(signed.layout_dir)[1], ("models/*",))
            assert set(contents) == {"models/yolo.mar", "models/model.sig"}, sorted(contents)
            pushed = push_image(IMAGE, state.address)
            yield pushed.reference, tmp / "model.pub", tmp / "other.pub", contents["models/yolo.mar"]
        finally:
            registry.stop(state_dir=state_dir)
            env.delenv(signing["pathEnv"])
            build_image(IMAGE)  # the checkout's layout and digest file back to the unsigned image


@pytest.fixture(scope="module")
def podman_storage(tmp_path_factory):
    with private_podman_storage(tmp_path_factory.mktemp("podman")) as storage:
        yield storage


def init_container() -> dict:
    from tools.k8s.render import workload
    from tools.k8s.render.inputs import load_inputs

    inputs = load_inputs(MODEL, "staging")
    (container,) = workload.init_containers(inputs)
    assert container["image"] == str(inputs.image_label)  # the very variant the server runs
    return container


def run_init(storage: Path, reference: str, public_key: Path, *mounts: str):
    """The init container as the kubelet runs it: its command, /tmp, the key at its mount path."""
    from tools.k8s.render import workload

    container = init_container()
    key_path = f"{workload.MODEL_KEY_DIR}/{workload.MODEL_KEY_FILE}"
    assert key_path in container["command"]
    options = (
        "--tmpfs", "/tmp:rw,size=64m,mode=1777",
        "--volume", f"{public_key}:{key_path}:ro",
        *mounts,
        "--entrypoint", json.dumps(container["command"]),
    )  # fmt: skip
    result = podman_run(storage, reference, options=options, timeout=300)
    return result.returncode, (result.stdout + result.stderr).strip()


def serve_bus_jpg(storage: Path, reference: str, bus_jpg: bytes) -> httpx.Response:
    """The server container (the image's entrypoint and cmd, loopback ports appended): bus.jpg."""
    ports, api_args = loopback_api_args()
    args = ["--model-store=/models", "--models", "yolo=yolo.mar", *api_args]
    options = ("--tmpfs", "/tmp:rw,size=512m,mode=1777")
    server = podman_run(storage, reference, *args, options=options, detach=True)
    try:
        answer = predict_when_up(ports["inference"], bus_jpg, lambda: server.poll() is None, 240)
        assert answer is not None and answer.status_code == 200, server.stop()[-3000:]
        return answer
    finally:
        server.stop()


def test_intact_signed_model_store_passes_the_init_container_and_serves(
    signed_image, podman_storage, bus_jpg
):
    reference, public_key, _, _ = signed_image
    code, said = run_init(podman_storage, reference, public_key)
    assert code == 0 and "Verification succeeded" in said, said
    answer = serve_bus_jpg(podman_storage, reference, bus_jpg)
    assert len(answer.json()["detections"]) >= 4


def test_a_tampered_archive_fails_the_init_container_with_one_line_naming_it(
    signed_image, podman_storage, tmp_path
):
    reference, public_key, _, archive = signed_image
    tampered = bytearray(archive)
    tampered[len(tampered) // 2] ^= 1  # inside model.onnx, the bulk of the archive
    (tmp_path / "yolo.mar").write_bytes(bytes(tampered))
    mount = ("--volume", f"{tmp_path / 'yolo.mar'}:/models/yolo.mar:ro")
    code, said = run_init(podman_storage, reference, public_key, *mount)
    assert code != 0, said
    assert said.startswith("Verification failed with error: Signature mismatch") and "yolo.mar" in said, said
    assert len(said.splitlines()) == 1, said  # the pod's log says why in one line, no traceback


def test_another_key_fails_the_init_container(signed_image, podman_storage):
    reference, _, other_key, _ = signed_image
    code, said = run_init(podman_storage, reference, other_key)
    assert code != 0 and said.startswith("Verification failed"), said
