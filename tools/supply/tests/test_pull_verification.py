"""The image signature checked on pull by containers/image (skopeo with a policy.json), a tool this
project did not write: signed by skopeo with a throwaway GPG key, stored as a referrer pushed
beside the image to a real docker-registry, laid out for the node from what the registry serves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import httpx
import pytest

from tools.oci import registry
from tools.oci.push import push_layout
from tools.paths import image_layout_dir
from tools.supply import gpg_signing, referrers
from tools.supply.tests.conftest import HELLO_CHILD
from tools.testing.ports import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("skopeo") and shutil.which("gpg")), reason="needs skopeo and gpg (./dev setup)"
    ),
]
REPOSITORY = "tools/oci/tests/testdata/hello/child"


def gpg_key(home, name: str) -> str:
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", f"{name} <{name}@invalid>",
                    "ed25519", "sign", "never"], env=env, check=True, capture_output=True)  # fmt: skip
    listing = subprocess.run(
        ["gpg", "--list-keys", "--with-colons"], env=env, check=True, capture_output=True, text=True
    )
    return next(line.split(":")[9] for line in listing.stdout.splitlines() if line.startswith("fpr:"))


def export(home, fingerprint: str, dest):
    env = {**os.environ, "GNUPGHOME": str(home)}
    dest.write_bytes(
        subprocess.run(["gpg", "--export", fingerprint], env=env, check=True, capture_output=True).stdout
    )
    return dest


@pytest.fixture(scope="module")
def local_registry(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("registry")
    state = registry.start(free_port(), state_dir=state_dir)
    yield state.address
    registry.stop(state_dir=state_dir)


def pull(address: str, digest: str, policy_key, lookaside, tmp_path) -> subprocess.CompletedProcess:
    registries_d = tmp_path / "registries.d"
    registries_d.mkdir(parents=True)
    (registries_d / "node.yaml").write_text(f"docker:\n  {address}:\n    lookaside: file://{lookaside}\n")
    policy = tmp_path / "policy.json"
    signed_by = {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(policy_key)}
    transports = {"docker": {address: [signed_by]}, "dir": {"": [{"type": "insecureAcceptAnything"}]}}
    policy.write_text(json.dumps({"default": [{"type": "reject"}], "transports": transports}))
    command = ["skopeo", "--policy", str(policy), "--registries.d", str(registries_d), "copy",
               "--src-tls-verify=false", "--remove-signatures",
               f"docker://{address}/{REPOSITORY}@{digest}", f"dir:{tmp_path / 'pulled'}"]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True)


def test_signature_pushed_as_referrer_is_enforced_on_pull(hello, local_registry, tmp_path, monkeypatch):
    from tools.oci.builder import build_image

    built = build_image(HELLO_CHILD)
    layout = image_layout_dir(HELLO_CHILD)
    right = gpg_key(tmp_path / "right", "right")
    wrong = gpg_key(tmp_path / "wrong", "wrong")
    monkeypatch.setenv("GNUPGHOME", str(tmp_path / "right"))
    push_layout(layout, local_registry, REPOSITORY)
    gpg_signing.sign_with_skopeo(layout, local_registry, REPOSITORY, built.digest, right, tls_verify=False)
    referrers.push_referrers(layout, local_registry, REPOSITORY)

    # The node's view: the signature as the registry serves it (referrers tag-schema fallback).
    base = f"http://{local_registry}/v2/{REPOSITORY}"
    index = httpx.get(f"{base}/manifests/{built.digest.replace(':', '-')}",
                      headers={"Accept": "application/vnd.oci.image.index.v1+json"}).json()  # fmt: skip
    (descriptor,) = [
        m for m in index["manifests"] if m["artifactType"] == gpg_signing.SIGNATURE_ARTIFACT_TYPE
    ]
    manifest = httpx.get(f"{base}/manifests/{descriptor['digest']}",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()  # fmt: skip
    signature = httpx.get(f"{base}/blobs/{manifest['layers'][0]['digest']}").content
    lookaside = tmp_path / "lookaside"
    gpg_signing.write_lookaside(lookaside, REPOSITORY, built.digest, [signature])

    right_key = export(tmp_path / "right", right, tmp_path / "right.gpg")
    wrong_key = export(tmp_path / "wrong", wrong, tmp_path / "wrong.gpg")
    accepted = pull(local_registry, built.digest, right_key, lookaside, tmp_path / "ok")
    assert accepted.returncode == 0, accepted.stderr
    refused = pull(local_registry, built.digest, wrong_key, lookaside, tmp_path / "wrong-key")
    assert refused.returncode != 0 and "Source image rejected" in refused.stderr
    unsigned = pull(local_registry, built.digest, right_key, tmp_path / "empty", tmp_path / "unsigned")
    assert unsigned.returncode != 0 and "Source image rejected" in unsigned.stderr
