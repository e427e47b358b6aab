"""Referrers pushed beside the image to a real docker-registry 2.8 (no referrers API: the OCI 1.1
tag-schema fallback), read back over HTTP and verified with securesystemslib, not our code."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from securesystemslib.dsse import Envelope
from securesystemslib.signer import Signature, SSlibKey

from tools.k8s.schema.environments import RegistryTLS, load_environment
from tools.oci import registry
from tools.oci.push import push_layout
from tools.paths import image_layout_dir
from tools.supply import gate, keys, referrers
from tools.supply.tests.conftest import HELLO_CHILD
from tools.testing.ports import free_port

pytestmark = pytest.mark.slow
REPOSITORY = "tools/oci/tests/testdata/hello/child"
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def local_registry(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("registry")
    state = registry.start(free_port(), state_dir=state_dir)
    yield state.address
    registry.stop(state_dir=state_dir)


def test_pushed_referrers_verify_with_securesystemslib(hello, policy_file, key_pairs, local_registry):
    from tools.oci.builder import build_image

    built = build_image(HELLO_CHILD)
    push_layout(image_layout_dir(HELLO_CHILD), local_registry, REPOSITORY)
    # The loopback registry speaks plain HTTP: the environment says so, as local.yaml does (the
    # referrers push trusts the registry exactly as the image push does).
    environment = load_environment("prod").model_copy(
        update={"registry": local_registry, "registryTLS": RegistryTLS(insecure=True)}
    )
    gate.enforce(environment, {str(HELLO_CHILD): built.digest}, push=True)

    base = f"http://{local_registry}/v2/{REPOSITORY}"
    tag = built.digest.replace(":", "-")
    index = httpx.get(f"{base}/manifests/{tag}", headers={"Accept": INDEX}).json()
    listed = {m["artifactType"]: m for m in index["manifests"]}
    assert set(listed) == {
        "application/vnd.cyclonedx+json",
        "application/vnd.in-toto+json",
        referrers.SIGNATURE_ARTIFACT_TYPE,
    }

    public = SSlibKey.from_crypto(keys.load_public(key_pairs["right"][1]))

    def blob(digest: str) -> bytes:
        return httpx.get(f"{base}/blobs/{digest}").content

    for artifact_type, descriptor in listed.items():
        manifest = httpx.get(f"{base}/manifests/{descriptor['digest']}", headers={"Accept": MANIFEST}).json()
        assert manifest["subject"]["digest"] == built.digest
        (layer,) = manifest["layers"]
        data = blob(layer["digest"])
        if artifact_type == referrers.SIGNATURE_ARTIFACT_TYPE:
            payload = json.loads(data)
            assert payload["critical"]["image"]["docker-manifest-digest"] == built.digest
            assert payload["critical"]["identity"]["docker-reference"] == f"{local_registry}/{REPOSITORY}"
            raw = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
            public.verify_signature(Signature(public.keyid, raw.hex()), data)
        else:
            envelope = Envelope.from_dict(json.loads(data))
            envelope.verify([public], 1)
            assert json.loads(envelope.payload)["subject"][0]["digest"]["sha256"] == built.digest[7:]

    # The tag containers/image reads sigstore signatures from (registries.d use-sigstore-attachments).
    sig = httpx.get(f"{base}/manifests/{tag}.sig", headers={"Accept": MANIFEST})
    assert (
        sig.status_code == 200
        and sig.json()["layers"][0]["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    )

    # Pushing again merges into the fallback index instead of duplicating entries.
    gate.enforce(environment, {str(HELLO_CHILD): built.digest}, push=True)
    again = httpx.get(f"{base}/manifests/{tag}", headers={"Accept": INDEX}).json()
    assert len(again["manifests"]) == 3
