"""TF Serving's upstream base has no Python, so where an environment verifies model signatures the
pod copies the model directory out of the model's image into an emptyDir, model-signing's own CLI
checks the copy from the fastapi runtime image, and the server mounts that copy over /models
(runtimes/tfserving/runtime.yaml ``modelSignature.staged``).

Here: the staging Deployment is rendered and its wiring checked (which image runs what, which mount
is read-only, what the server loads, that apply builds, pushes and gates the verifier image too);
then the two init containers run as the kubelet would run them, on the real resnet50 SavedModel laid
out and signed by the image builder's own functions: the copy with the rendered command as uid
65532 (the TF Serving base cannot be pulled here, so the host's GNU cp runs it; the base is Ubuntu,
whose cp is GNU's too), the check with podman in the real fastapi runtime image pulled by digest
from a real registry (uid 65532, read-only root, the copy mounted read-only). Intact: it passes.
One flipped byte in the variables: it fails with model-signing's one line naming the file.
Another key: it fails. What only a cluster can show: TF Serving serving from the copy.

Every import is inside the tests: ./dev test also collects this package in .venvs/tf.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

# slow (builds and runs an image with podman), but not `container`: it needs the real SavedModel,
# exported in .venvs/tf, which `./dev setup --all` makes and the pristine-root rehearsal's plain
# `./dev setup` does not. So it runs in ./dev test only.
pytestmark = pytest.mark.slow

MODEL = "resnet50"
VERIFIER = "//runtimes/fastapi:image"
PASSPHRASE = "test passphrase"
NONROOT = 65532


def staging():
    from tools.deploy.flow import Deploy

    return Deploy.load(MODEL, "staging")


def test_staging_copies_verifies_and_serves_the_verified_copy():
    from tools.k8s.render import workload
    from tools.labels import Label

    deploy = staging()
    (deployment,) = [o for o in deploy.objects if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    stage, verify = pod["initContainers"]
    (server,) = pod["containers"]
    assert stage["name"] == workload.STAGE_CONTAINER_NAME and stage["image"] == server["image"]
    assert verify["name"] == workload.VERIFY_CONTAINER_NAME and verify["image"] == VERIFIER
    assert verify["command"][:3] == ["python3", "-m", "model_signing"]
    mounts = {c["name"]: {m["name"]: m for m in c["volumeMounts"]} for c in (stage, verify, server)}
    shared = workload.STAGED_VOLUME
    assert not mounts["stage-model"][shared].get("readOnly")  # the only writer
    assert mounts["verify-model-signature"][shared]["readOnly"]
    assert mounts["server"][shared] == {"name": shared, "mountPath": "/models", "readOnly": True}
    assert workload.MODEL_KEY_VOLUME in mounts["verify-model-signature"]
    assert workload.MODEL_KEY_VOLUME not in mounts["stage-model"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == shared]
    assert "emptyDir" in volume and volume["emptyDir"]["sizeLimit"]
    # apply builds, pushes and gates (tools/supply/gate.py) the verifier image with the model's.
    assert deploy.image_labels() == [deploy.inputs.image_label, Label.parse(VERIFIER)]
    from tools.deploy.flow import Deploy

    assert Deploy.load(MODEL, "local").image_labels() == [Deploy.load(MODEL, "local").inputs.image_label]


@contextlib.contextmanager
def world_readable_dir(prefix: str):
    """A directory uid 65532 can reach (pytest's own tmp dirs are private to root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tmp_dir():
    with world_readable_dir("cf-resnet50-pod-") as path:
        yield path


@pytest.fixture(scope="module")
def image_models():
    """(a root whose models/ is the resnet50 image's /models, signed; the model key; another key):
    laid out and signed by the builder's own fill_artifacts and model signing."""
    from tools.artifacts import build_artifacts
    from tools.labels import Label
    from tools.oci.layers import fill_artifacts
    from tools.supply import keys
    from tools.supply.models import sign_model

    with world_readable_dir("cf-resnet50-signed-") as tmp:
        for name in ("model", "other"):
            keys.generate(tmp / f"{name}.key", tmp / f"{name}.pub", PASSPHRASE)
        source = build_artifacts(Label.parse("//models/resnet50:savedmodel"))
        root = tmp / "image"
        fill_artifacts(root, "/models", source, [], lambda d: sign_model(d, tmp / "model.key", PASSPHRASE))
        assert (root / "models/model.sig").is_file() and (root / "models/resnet50/1/saved_model.pb").is_file()
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)  # as the image carries them: world-readable
        yield root, tmp / "model.pub", tmp / "other.pub"


@pytest.fixture(scope="module")
def verifier(tmp_path_factory):
    """(podman storage, the fastapi runtime image's reference in a real registry, by digest)."""
    from tools.labels import Label
    from tools.oci import registry
    from tools.oci.builder import build_image
    from tools.oci.push import push_image
    from tools.testing.images import checkout_build_dir, private_podman_storage
    from tools.testing.ports import free_port

    state_dir = tmp_path_factory.mktemp("verifier-registry")
    with checkout_build_dir(), private_podman_storage(tmp_path_factory.mktemp("podman")) as storage:
        state = registry.start(free_port(), state_dir=state_dir)
        try:
            build_image(Label.parse(VERIFIER))
            yield storage, push_image(Label.parse(VERIFIER), state.address).reference
        finally:
            registry.stop(state_dir=state_dir)


def stage(image_root: Path, empty_dir: Path) -> subprocess.CompletedProcess:
    """The rendered stage-model command, its two paths mapped here, run as uid 65532 into a fresh
    directory with an emptyDir's permissions (0777)."""
    from tools.k8s.render import workload

    (container, _) = workload.init_containers(staging().inputs)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == workload.STAGED_VOLUME]
    empty_dir.mkdir(mode=0o777)
    empty_dir.chmod(0o777)
    words = [
        w.replace(mount["mountPath"], str(empty_dir), 1).replace("/models/", f"{image_root}/models/", 1)
        for w in container["command"]
    ]
    assert words[0] == "cp"
    user = (
        ["setpriv", f"--reuid={NONROOT}", f"--regid={NONROOT}", "--clear-groups"] if os.geteuid() == 0 else []
    )
    return subprocess.run([*user, *words], capture_output=True, text=True, timeout=120)


def verify(verifier, staged: Path, public_key: Path) -> tuple[int, str]:
    """The rendered verify-model-signature container in the verifier image, with podman."""
    from tools.k8s.render import workload
    from tools.testing.images import podman_run

    storage, reference = verifier
    (_, container) = workload.init_containers(staging().inputs)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == workload.STAGED_VOLUME]
    key_path = f"{workload.MODEL_KEY_DIR}/{workload.MODEL_KEY_FILE}"
    options = (
        "--tmpfs", "/tmp:rw,size=64m,mode=1777",
        "--volume", f"{staged}:{mount['mountPath']}:ro",
        "--volume", f"{public_key}:{key_path}:ro",
        "--entrypoint", json.dumps(container["command"]),
    )  # fmt: skip
    result = podman_run(storage, reference, options=options, timeout=300)
    return result.returncode, (result.stdout + result.stderr).strip()


def test_an_intact_copy_verifies_in_the_verifier_image(image_models, verifier, tmp_dir):
    image_root, public_key, _ = image_models
    copied = stage(image_root, tmp_dir / "staged")
    assert copied.returncode == 0, copied.stderr
    staged = tmp_dir / "staged"
    assert (staged / "model.sig").is_file() and (staged / "resnet50/1/saved_model.pb").is_file()
    code, said = verify(verifier, staged, public_key)
    assert code == 0 and "Verification succeeded" in said, said


def test_a_tampered_variables_file_fails_with_one_line_naming_it(image_models, verifier, tmp_dir):
    image_root, public_key, _ = image_models
    tampered_root = tmp_dir / "image"
    shutil.copytree(image_root, tampered_root)
    (variables,) = (tampered_root / "models/resnet50/1/variables").glob("variables.data-*")
    data = bytearray(variables.read_bytes())
    data[len(data) // 2] ^= 1
    variables.write_bytes(bytes(data))
    assert stage(tampered_root, tmp_dir / "staged").returncode == 0
    code, said = verify(verifier, tmp_dir / "staged", public_key)
    assert code != 0, said
    assert said.startswith("Verification failed with error: Signature mismatch") and variables.name in said, (
        said
    )
    assert len(said.splitlines()) == 1, said


def test_another_key_fails(image_models, verifier, tmp_dir):
    image_root, _, other_key = image_models
    assert stage(image_root, tmp_dir / "staged").returncode == 0
    code, said = verify(verifier, tmp_dir / "staged", other_key)
    assert code != 0 and said.startswith("Verification failed"), said
