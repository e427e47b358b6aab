"""The supply-chain gate apply runs: each failure is one clear line and nothing is applied."""

from __future__ import annotations

import pytest
import yaml

from tools.errors import UserError
from tools.k8s.schema.environments import load_environment
from tools.paths import image_layout_dir
from tools.supply import attest, gate, keys, policy, referrers
from tools.supply.contents import blob_path, image_manifest
from tools.supply.tests.conftest import HELLO_CHILD, PASSPHRASE

pytestmark = pytest.mark.slow
PROD = load_environment("prod")
IDENTITY = f"{PROD.registry}/tools/oci/tests/testdata/hello/child"


@pytest.fixture
def unsigned(hello):
    """The hello child image with no referrers at all (a fresh layout each test)."""
    from tools.oci.builder import build_image

    return build_image(HELLO_CHILD)  # cached layers; rewrites the layout without referrers


def sign_with(pair: str, key_pairs) -> None:
    key = keys.load_private(key_pairs[pair][0], PASSPHRASE)
    attest.attach(attest.make(HELLO_CHILD), key, (IDENTITY,))


def refusal(digest: str, env=PROD) -> str:
    with pytest.raises(UserError) as caught:
        gate.enforce(env, {str(HELLO_CHILD): digest}, push=False)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_signed_image_passes_and_is_checked_with_the_public_key(unsigned, policy_file, capsys):
    gate.enforce(PROD, {str(HELLO_CHILD): unsigned.digest}, push=False)  # signs with the env's key
    assert "signature, SBOM and provenance verified" in capsys.readouterr().err
    kinds = {r.artifact_type for r in referrers.list_referrers(image_layout_dir(HELLO_CHILD))}
    assert kinds == {
        "application/vnd.cyclonedx+json",
        "application/vnd.in-toto+json",
        referrers.SIGNATURE_ARTIFACT_TYPE,
    }


def test_unsigned_image_on_prod_names_everything_missing(unsigned, policy_file, monkeypatch):
    monkeypatch.delenv("CF_SIGNING_KEY_PROD")  # no key at hand: nothing gets signed here
    message = refusal(unsigned.digest)
    assert f"prod refuses {HELLO_CHILD}@{unsigned.digest[:19]}: missing SBOM; missing provenance; " in message
    assert f"missing signature for {IDENTITY}" in message


def test_signed_with_the_wrong_key(unsigned, policy_file, key_pairs, monkeypatch):
    monkeypatch.delenv("CF_SIGNING_KEY_PROD")
    sign_with("wrong", key_pairs)
    message = refusal(unsigned.digest)
    assert "SBOM: signature does not verify with the environment's public key" in message
    assert "provenance: signature does not verify" in message
    assert f"signature for {IDENTITY} does not verify with the environment's public key" in message


def test_missing_keys_are_one_line_each(unsigned, policy_file, key_pairs, monkeypatch, tmp_path):
    monkeypatch.setenv("CF_SIGNING_KEY_PROD", str(tmp_path / "no-such.key"))
    assert "signing key not found" in refusal(unsigned.digest)
    monkeypatch.setenv("CF_SIGNING_PASSPHRASE_PROD", "not the passphrase")
    monkeypatch.setenv("CF_SIGNING_KEY_PROD", str(key_pairs["right"][0]))
    assert "wrong passphrase for the signing key" in refusal(unsigned.digest)
    data = yaml.safe_load(policy_file.read_text())
    data["environments"]["prod"]["publicKey"] = str(tmp_path / "absent.pub")
    policy_file.write_text(yaml.safe_dump(data))
    policy._load_policy.cache_clear()
    monkeypatch.delenv("CF_SIGNING_KEY_PROD")
    with pytest.raises(UserError, match=r"environments.prod.publicKey: public key .*absent.pub is missing"):
        gate.enforce(PROD, {str(HELLO_CHILD): unsigned.digest}, push=False)


def test_a_layer_tampered_after_signing_is_refused(unsigned, policy_file, monkeypatch):
    gate.enforce(PROD, {str(HELLO_CHILD): unsigned.digest}, push=False)
    monkeypatch.delenv("CF_SIGNING_KEY_PROD")  # an attacker has no key to re-sign with
    layout = image_layout_dir(HELLO_CHILD)
    _, manifest, _ = image_manifest(layout)
    blob = blob_path(layout, manifest["layers"][0]["digest"])
    data = bytearray(blob.read_bytes())
    blob.unlink()  # a hard link into the layer cache: replace it, leave the cache intact
    data[-100] ^= 0xFF
    blob.write_bytes(bytes(data))
    assert "does not match its digest (tampered or corrupt)" in refusal(unsigned.digest)


def test_local_skips_and_says_so(unsigned, capsys):
    gate.enforce(load_environment("local"), {str(HELLO_CHILD): unsigned.digest}, push=False)
    assert "supply chain: checks skipped on local" in capsys.readouterr().err


def test_licence_needing_a_decision_is_refused_unless_the_environment_accepts_it(policy_file):
    model = {"type": "machine-learning-model", "name": "/models/m/model.onnx"}
    agpl, apache = [{"license": {"id": "AGPL-3.0-only"}}], [{"license": {"id": "Apache-2.0"}}]
    document = {
        "components": [
            {**model, "licenses": agpl},
            {**model, "name": "/models/m/other.onnx"},
            {"type": "library", "name": "requests", "licenses": apache},
        ]
    }
    assert policy.undecided_licences(document, "prod") == [
        "/models/m/model.onnx is AGPL-3.0-only",
        "/models/m/other.onnx is no licence declared",
    ]
    data = yaml.safe_load(policy_file.read_text())
    data["environments"]["prod"]["acceptLicences"] = [
        {"component": "/models/m/model.onnx", "licence": "AGPL-3.0-only", "reason": "decided"}
    ]
    policy_file.write_text(yaml.safe_dump(data))
    policy._load_policy.cache_clear()
    assert policy.undecided_licences(document, "prod") == ["/models/m/other.onnx is no licence declared"]
    report = policy.licence_report(document)
    assert "NEEDS DECISION AGPL-3.0-only: 1 (/models/m/model.onnx)" in report
