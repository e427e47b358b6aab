"""tritonserver is not ours, so where an environment verifies model signatures an init container
checks gpt2's weights first. This test does what the kubelet does with the Deployment staging
renders: runs its init container's command (OpenSSF model-signing's own CLI, as rendered from
runtimes/triton/runtime.yaml) over a model repository, and starts the real tritonserver only when
it exits 0. Intact signed weights: the server serves. One flipped byte: the init container fails,
says which file, and the server never starts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from models.gpt2 import client as gpt2_client
from models.gpt2.repository import MODEL_NAME, assemble
from runtimes.triton.local import local_server
from tools.k8s.render import workload
from tools.k8s.render.inputs import load_inputs
from tools.supply import keys
from tools.supply.models import sign_model

pytestmark = pytest.mark.slow  # starts tritonserver
PASSPHRASE = "test passphrase"
KEY_PATH = f"{workload.MODEL_KEY_DIR}/{workload.MODEL_KEY_FILE}"


@pytest.fixture(scope="module")
def signed_repository(gpt2_weights, tmp_path_factory) -> tuple[Path, Path]:
    """(model repository with signed weights, the public key): weights copied, signed as the
    image builder signs the image's /models/gpt2/1/weights (tools/supply/models.py)."""
    tmp = tmp_path_factory.mktemp("signed")
    keys.generate(tmp / "model.key", tmp / "model.pub", PASSPHRASE)
    repository = assemble(tmp / "repository", gpt2_weights, gpu=False)
    weights = repository / MODEL_NAME / "1" / "weights"
    sign_model(weights, tmp / "model.key", PASSPHRASE)
    return repository, tmp / "model.pub"


def init_command(repository: Path, public_key: Path) -> list[str]:
    """The rendered staging init container's command, its paths mapped onto this machine."""
    (container,) = workload.init_containers(load_inputs(MODEL_NAME, "staging"))
    # the very image variant the server runs
    assert container["image"] == str(load_inputs(MODEL_NAME, "staging").image_label)
    words = [w.replace(KEY_PATH, str(public_key)) for w in container["command"]]
    words = [w.replace("/models/", f"{repository}/", 1) if w.startswith("/models/") else w for w in words]
    assert words[0] == "python3"
    return [sys.executable, *words[1:]]


def run_pod(
    repository: Path, public_key: Path, log_dir: Path
) -> tuple[subprocess.CompletedProcess, str | None]:
    """Init container, then (only if it succeeded) the server; returns (init result, generated text)."""
    init = subprocess.run(init_command(repository, public_key), capture_output=True, text=True, timeout=300)
    if init.returncode != 0:
        return init, None
    with local_server(repository, log_file=log_dir / "tritonserver.log") as server:
        (text,) = gpt2_client.generate(server.options.http_url, ["Once upon a time"], max_new_tokens=4)
        assert server.stop() == 0, server.log_errors()
    return init, text


def test_intact_signed_weights_pass_the_init_container_and_serve(signed_repository, tmp_path):
    repository, public_key = signed_repository
    init, text = run_pod(repository, public_key, tmp_path)
    assert init.returncode == 0 and "Verification succeeded" in init.stdout + init.stderr
    assert isinstance(text, str) and text


def test_a_tampered_weight_file_fails_the_init_container_and_the_server_never_starts(
    signed_repository, tmp_path
):
    source, public_key = signed_repository
    repository = tmp_path / "repository"
    shutil.copytree(source, repository)
    weights = repository / MODEL_NAME / "1" / "weights" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    init, text = run_pod(repository, public_key, tmp_path)
    said = (init.stdout + init.stderr).strip()
    assert init.returncode != 0 and text is None
    assert (
        said.startswith("Verification failed with error: Signature mismatch") and "model.safetensors" in said
    )
    assert not (tmp_path / "tritonserver.log").exists()
