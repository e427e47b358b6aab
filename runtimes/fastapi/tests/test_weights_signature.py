"""The real server verifies the weights' OpenSSF model-signing signature before loading them: a
tampered file, a wrong key or no signature keeps it not ready, with one log line and a metric."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runtimes.fastapi.tests.conftest import TOY_HANDLER
from runtimes.fastapi.tests.server_process import running_server
from tools.supply import keys
from tools.supply.models import sign_model

PASSPHRASE = "test passphrase"


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> dict[str, Path]:
    """A model directory signed with a throwaway key made here; a second key that did not sign it."""
    tmp = tmp_path_factory.mktemp("signed")
    for name in ("right", "wrong"):
        keys.generate(tmp / f"{name}.key", tmp / f"{name}.pub", PASSPHRASE)
    model = tmp / "model"
    model.mkdir()
    (model / "gate").write_text("open")
    (model / "weights.bin").write_bytes(bytes(range(256)) * 64)
    sign_model(model, tmp / "right.key", PASSPHRASE)
    return {"dir": model, "right": tmp / "right.pub", "wrong": tmp / "wrong.pub"}


def settings(model_dir: Path, public_key: Path) -> dict[str, str]:
    return {
        "MODEL_NAME": "toy",
        "MODEL_HANDLER": TOY_HANDLER,
        "MODEL_PATH": str(model_dir / "gate"),
        "MODEL_SIGNATURE_PUBLIC_KEY": str(public_key),
    }


def refused(model_dir: Path, public_key: Path, log_dir: Path) -> tuple[str, str]:
    """(the refusal log line, /metrics) from a server that must never become ready."""
    with running_server(settings(model_dir, public_key), log_dir) as server, server.client() as client:
        deadline = time.monotonic() + 30
        while "refusing to load" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/ready").status_code == 503
        assert client.get("/v2/health/ready").status_code == 503
        lines = [line for line in server.log().splitlines() if "refusing to load" in line]
        assert len(lines) == 1, server.log()
        return lines[0], client.get("/metrics").text


def test_signed_weights_load_and_say_so(signed, tmp_path):
    settings_ = settings(signed["dir"], signed["right"])
    with running_server(settings_, tmp_path, wait_for="/ready") as server, server.client() as client:
        assert 'model_signature_verified{model="toy"} 1.0' in client.get("/metrics").text


def test_a_tampered_weight_file_is_refused(signed, tmp_path):
    tampered = tmp_path / "model"
    tampered.mkdir()
    for path in signed["dir"].iterdir():
        (tampered / path.name).write_bytes(path.read_bytes())
    data = bytearray((tampered / "weights.bin").read_bytes())
    data[100] ^= 1
    (tampered / "weights.bin").write_bytes(bytes(data))
    line, metrics = refused(tampered, signed["right"], tmp_path)
    assert "model toy: weights signature check failed, refusing to load" in line
    assert 'model_signature_verified{model="toy"} 0.0' in metrics


def test_a_wrong_key_is_refused(signed, tmp_path):
    line, metrics = refused(signed["dir"], signed["wrong"], tmp_path)
    assert "weights signature check failed" in line
    assert 'model_signature_verified{model="toy"} 0.0' in metrics


def test_no_signature_is_refused(signed, tmp_path):
    unsigned = tmp_path / "model"
    unsigned.mkdir()
    for path in signed["dir"].iterdir():
        if path.name != "model.sig":
            (unsigned / path.name).write_bytes(path.read_bytes())
    line, _ = refused(unsigned, signed["right"], tmp_path)
    assert f"no signature at {unsigned / 'model.sig'}" in line
