"""Model signatures travel with the model: the builder writes model.sig beside the weights in the
image, over exactly the files the image carries, deterministically; OpenSSF model-signing's own CLI
(what the init container runs) verifies it and refuses a tampered weight; the staging/prod gate
refuses an image whose model is unsigned or signed by another key."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tools.errors import UserError
from tools.k8s.schema.environments import load_environment
from tools.labels import Label
from tools.paths import image_layout_dir
from tools.supply import gate, models
from tools.supply.contents import blob_path
from tools.supply.tests.conftest import PASSPHRASE

SIGNED = Label.parse("//tools/supply/tests/testdata/signed_model:image")
PROD = load_environment("prod")


def model_signing_cli(model_dir: Path, public_key: Path) -> subprocess.CompletedProcess:
    """``model_signing verify key``: the verifier the Triton/TF Serving init container runs."""
    command = [sys.executable, "-m", "model_signing", "verify", "key", str(model_dir)]
    command += ["--signature", str(model_dir / "model.sig"), "--public_key", str(public_key)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def unpack_model(layout_dir: Path, out: Path) -> Path:
    """The artifacts layer's files, as the container sees them under /models/toy."""
    ((destination, digest),) = models.model_layers(layout_dir)
    with tarfile.open(blob_path(layout_dir, digest)) as tar:
        tar.extractall(out)
    return out / destination


def test_signatures_are_deterministic_and_verify_with_model_signing_itself(key_pairs, tmp_path):
    private, public = key_pairs["right"]
    signatures = []
    for name in ("one", "two"):  # the directory's name is in the statement: the same in both
        model = tmp_path / name / "toy"
        model.mkdir(parents=True)
        (model / "weights.bin").write_bytes(b"\x01" * 4096)
        (model / "config.json").write_text("{}")
        signatures.append(models.sign_model(model, private, PASSPHRASE).read_bytes())
    assert signatures[0] == signatures[1]  # RFC 6979: the image digest does not change per build
    model = tmp_path / "one" / "toy"
    assert model_signing_cli(model, public).returncode == 0
    assert model_signing_cli(model, key_pairs["wrong"][1]).returncode != 0
    (model / "weights.bin").write_bytes(b"\x01" * 4095 + b"\x00")
    tampered = model_signing_cli(model, public)
    assert tampered.returncode != 0, tampered.stdout


def test_the_image_carries_model_sig_over_exactly_its_files(hello, policy_file, key_pairs, tmp_path):
    from tools.oci.builder import build_image

    built = build_image(SIGNED)
    layout = image_layout_dir(SIGNED)
    model_dir = unpack_model(layout, tmp_path / "rootfs")
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "gate",
        "metadata.json",
        "model.sig",
        "weights.bin",
    ]
    bundle = json.loads((model_dir / "model.sig").read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    signed = sorted(r["name"] for r in statement["predicate"]["resources"])
    assert signed == ["gate", "metadata.json", "weights.bin"]  # not checkpoint.pt, left out of the image
    assert model_signing_cli(model_dir, key_pairs["right"][1]).returncode == 0
    assert models.image_model_problems(layout, key_pairs["right"][1]) == []
    wrong = models.image_model_problems(layout, key_pairs["wrong"][1])
    assert len(wrong) == 1 and wrong[0].startswith("/models/toy: model signature does not verify")
    # The same inputs and key give the same image (the layer is cached by the key's fingerprint).
    assert build_image(SIGNED).digest == built.digest


def test_prod_refuses_an_unsigned_model_and_accepts_a_signed_one(hello, policy_file, monkeypatch):
    from tools.oci.builder import build_image

    signed = build_image(SIGNED)
    gate.enforce(PROD, {str(SIGNED): signed.digest}, push=False)  # image + SBOM + provenance + model

    monkeypatch.delenv("CF_MODEL_SIGNING_KEY")  # a build by someone without the model key
    unsigned = build_image(SIGNED)
    assert unsigned.digest != signed.digest
    with pytest.raises(UserError) as caught:
        gate.enforce(PROD, {str(SIGNED): unsigned.digest}, push=False)
    message = str(caught.value)
    assert "/models/toy: " in message and "no model signature (model.sig) beside the weights" in message
    assert "\n" not in message


def served_settings(model_dir: Path, public_key: Path) -> dict[str, str]:
    """The fastapi runtime's settings as staging renders them for a model (the key's variable and
    path from the rendered Deployment), pointed at the image's unpacked model directory."""
    from tools.k8s.render import workload
    from tools.k8s.render.inputs import load_inputs

    container = workload.deployment(load_inputs("yolo", "staging"), None)["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in container["containers"][0]["env"]}
    (name,) = [k for k, v in env.items() if v == f"{workload.MODEL_KEY_DIR}/{workload.MODEL_KEY_FILE}"]
    toy_handler = "runtimes.fastapi.tests.toy_models:GatedSum"  # reads MODEL_PATH: the gate file
    return {
        "MODEL_NAME": "toy",
        "MODEL_HANDLER": toy_handler,
        "MODEL_PATH": str(model_dir / "gate"),
        name: str(public_key),
    }


def test_the_fastapi_server_serves_the_images_signed_model_and_refuses_a_tampered_one(
    hello, policy_file, key_pairs, tmp_path
):
    """Real uvicorn (python -m runtimes.fastapi) over the files the image carries."""
    from runtimes.fastapi.tests.server_process import running_server
    from tools.oci.builder import build_image

    build_image(SIGNED)
    model_dir = unpack_model(image_layout_dir(SIGNED), tmp_path / "rootfs")
    settings = served_settings(model_dir, key_pairs["right"][1])
    with running_server(settings, tmp_path, wait_for="/ready") as server, server.client() as client:
        assert 'model_signature_verified{model="toy"} 1.0' in client.get("/metrics").text

    weights = model_dir / "weights.bin"
    data = bytearray(weights.read_bytes())
    data[7] ^= 1
    weights.write_bytes(bytes(data))
    with running_server(settings, tmp_path, wait_for="/health") as server, server.client() as client:
        server.wait_until("/ready", status=503)
        deadline = time.monotonic() + 30
        while "refusing to load" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        (line,) = [line for line in server.log().splitlines() if "refusing to load" in line]
        assert "model toy: weights signature check failed" in line and "weights.bin" in line
        assert client.get("/ready").status_code == 503
        assert 'model_signature_verified{model="toy"} 0.0' in client.get("/metrics").text


def test_a_missing_model_key_is_one_line_and_nothing_passes(hello, policy_file, monkeypatch, tmp_path):
    import yaml

    from tools.oci.builder import build_image

    signed = build_image(SIGNED)
    data = yaml.safe_load(policy_file.read_text())
    data["models"]["publicKey"] = "keys/models.pub"  # as platform/supply-chain.yaml: not committed yet
    (tmp_path / "no-model-key.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("CF_SUPPLY_CHAIN_FILE", str(tmp_path / "no-model-key.yaml"))
    with pytest.raises(UserError) as caught:
        gate.enforce(PROD, {str(SIGNED): signed.digest}, push=False)
    assert "public key keys/models.pub is missing: add the public half of the model signing key" in str(
        caught.value
    )
