"""Referrers go to registries as teams run them, with the image push's trust and credentials: a real
docker-registry 2.8 with TLS from a test CA and htpasswd basic auth (and one behind the bearer-token
flow), a registry path prefix (``host/ai-serving``), the tag-schema fallback read back with
credentials, and each refusal as one line."""

from __future__ import annotations

import ssl

import httpx
import pytest

from tools.errors import UserError
from tools.k8s.schema.environments import RegistryTLS, load_environment
from tools.labels import image_repository
from tools.oci.push import push_layout
from tools.oci.tests.secure_registry import (
    PASSWORD,
    USER,
    CertificateAuthority,
    basic_auth_registry,
    isolated_home,
    token_auth_registry,
    write_auth_file,
)
from tools.paths import image_layout_dir
from tools.supply import gate, referrers
from tools.supply.tests.conftest import HELLO_CHILD

pytestmark = pytest.mark.slow
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
PREFIX = "ai-serving"  # the registry as environments name it: host:port/ai-serving


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def basic_registry(ca, tmp_path_factory):
    with basic_auth_registry(ca, tmp_path_factory.mktemp("basic-registry")) as state:
        yield state.address


@pytest.fixture(scope="module")
def token_registry(ca, tmp_path_factory):
    with token_auth_registry(ca, tmp_path_factory.mktemp("token-registry")) as (server, state):
        yield server, state.address


@pytest.fixture
def home(tmp_path, monkeypatch):
    return isolated_home(tmp_path, monkeypatch)


def _signed_and_pushed(address: str, ca: CertificateAuthority) -> tuple[str, object]:
    """Builds the hello child, pushes it with skopeo, then lets the prod gate sign it and push its
    referrers with the environment's registryTLS (the test CA)."""
    from tools.oci.builder import build_image

    built = build_image(HELLO_CHILD)
    registry_ = f"{address}/{PREFIX}"
    push_layout(image_layout_dir(HELLO_CHILD), registry_, image_repository(HELLO_CHILD), ca_file=ca.cert)
    environment = load_environment("prod").model_copy(
        update={"registry": registry_, "registryTLS": RegistryTLS(caFile=ca.cert)}
    )
    gate.enforce(environment, {str(HELLO_CHILD): built.digest}, push=True)
    return built.digest, environment


def _get(address: str, ca: CertificateAuthority, path: str, accept: str) -> httpx.Response:
    name = f"{PREFIX}/{image_repository(HELLO_CHILD)}"
    return httpx.get(
        f"https://{address}/v2/{name}/{path}",
        auth=(USER, PASSWORD),
        verify=ssl.create_default_context(cafile=ca.cert),
        headers={"Accept": accept},
    )


def test_referrers_go_up_with_the_push_credentials_over_tls(hello, policy_file, basic_registry, ca, home):
    write_auth_file(home / "run" / "containers" / "auth.json", basic_registry, USER, PASSWORD)
    digest, environment = _signed_and_pushed(basic_registry, ca)
    index = _get(basic_registry, ca, f"manifests/{referrers.fallback_tag(digest)}", INDEX)
    assert index.status_code == 200, index.text
    listed = {m["artifactType"] for m in index.json()["manifests"]}
    assert listed == {
        "application/vnd.cyclonedx+json",
        "application/vnd.in-toto+json",
        referrers.SIGNATURE_ARTIFACT_TYPE,
    }
    for entry in index.json()["manifests"]:
        manifest = _get(basic_registry, ca, f"manifests/{entry['digest']}", MANIFEST)
        assert manifest.json()["subject"]["digest"] == digest
    sig = _get(basic_registry, ca, f"manifests/{referrers.fallback_tag(digest)}.sig", MANIFEST)
    assert sig.status_code == 200
    # Again: merged into the same fallback index, not duplicated.
    gate.enforce(environment, {str(HELLO_CHILD): digest}, push=True)
    again = _get(basic_registry, ca, f"manifests/{referrers.fallback_tag(digest)}", INDEX)
    assert len(again.json()["manifests"]) == 3


def test_credentials_from_docker_config_json_and_a_token_registry(
    hello, policy_file, token_registry, ca, home
):
    server, address = token_registry
    write_auth_file(home / ".docker" / "config.json", address, USER, PASSWORD)
    digest, _ = _signed_and_pushed(address, ca)
    name = f"{PREFIX}/{image_repository(HELLO_CHILD)}"
    pushes = [a for claims in server.issued for a in claims["access"] if a["name"] == name]
    assert any("push" in a["actions"] for a in pushes), server.issued
    token = httpx.get(
        server.realm,
        params={"service": server.service, "scope": f"repository:{name}:pull"},
        auth=(USER, PASSWORD),
        verify=ssl.create_default_context(cafile=ca.cert),
    ).json()["token"]
    index = httpx.get(
        f"https://{address}/v2/{name}/manifests/{referrers.fallback_tag(digest)}",
        headers={"Accept": INDEX, "Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=ca.cert),
    )
    assert index.status_code == 200 and len(index.json()["manifests"]) == 3


def test_no_or_wrong_credentials_and_an_unknown_ca_are_one_line_each(hello, basic_registry, ca, home):
    layout = image_layout_dir(HELLO_CHILD)
    registry_ = f"{basic_registry}/{PREFIX}"
    with pytest.raises(UserError) as caught:
        referrers.push_referrers(layout, registry_, "x", ca_file=ca.cert)
    assert (
        "refused the credentials for ai-serving/x (it wants a user and password and none are stored"
        in str(caught.value)
    )
    write_auth_file(home / "run" / "containers" / "auth.json", basic_registry, USER, "wrong")
    with pytest.raises(UserError) as caught:
        referrers.push_referrers(layout, registry_, "x", ca_file=ca.cert)
    assert "(HTTP 401 with the stored credentials)" in str(caught.value)
    with pytest.raises(UserError) as caught:
        # Verified TLS against the system bundle only, which does not know the test CA.
        referrers.push_referrers(layout, registry_, "x", insecure=False)
    assert "its TLS certificate is not trusted" in str(caught.value) and "\n" not in str(caught.value)
    assert "registryTLS.caFile" in str(caught.value)
    # Nothing reached the repository on any of those attempts.
    write_auth_file(home / "run" / "containers" / "auth.json", basic_registry, USER, PASSWORD)
    tags = httpx.get(
        f"https://{basic_registry}/v2/{PREFIX}/x/tags/list",
        auth=(USER, PASSWORD),
        verify=ssl.create_default_context(cafile=ca.cert),
    )
    assert tags.status_code == 404, tags.text
