"""Push to registries as teams run them: TLS from a test CA, htpasswd basic auth, the bearer-token
flow, credentials from auth.json / config.json / a credential helper, cross-repository mounts, and
each failure (wrong password, unknown CA, expired token, registry killed mid-push) as one line with
the pushed record untouched and no manifest stored.

Real docker-registry instances (Debian's distribution 2.8) and the real skopeo; the token server is
the minimal one in secure_registry.py (none is packaged here)."""

from __future__ import annotations

import json
import os
import signal
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tools.errors import UserError
from tools.k8s.schema.environments import load_environment_file
from tools.labels import Label
from tools.oci import registry
from tools.oci.builder import build_image
from tools.oci.layout import read_manifest
from tools.oci.push import push_image, push_layout, pushed_record_file, tls_from_environment
from tools.oci.tests.helpers import HELLO
from tools.oci.tests.secure_registry import (
    PASSWORD,
    USER,
    CertificateAuthority,
    basic_auth_registry,
    isolated_home,
    random_layout,
    token_auth_registry,
    write_auth_file,
)
from tools.paths import REPO_ROOT, image_digest_file, image_layout_dir
from tools.testing.ports import free_port

IMAGE = Label(HELLO, "image")


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def basic_registry(ca, tmp_path_factory):
    with basic_auth_registry(ca, tmp_path_factory.mktemp("basic-registry")) as state:
        yield state


@pytest.fixture(scope="module")
def token_registry(ca, tmp_path_factory):
    with token_auth_registry(ca, tmp_path_factory.mktemp("token-registry")) as running:
        yield running


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    return isolated_home(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def built(build_dir, repo_copy):
    return build_image(IMAGE, root=repo_copy)


def _layout(tmp_path: Path, sizes=(1000, 2000, 30_000)) -> tuple[Path, str, list[dict]]:
    layout = tmp_path / "layout"
    digest, layers = random_layout(layout, list(sizes))
    return layout, digest, layers


def _manifest_status(state, repository: str, digest: str, ca: CertificateAuthority | None = None) -> int:
    scheme, verify = ("https", ssl.create_default_context(cafile=ca.cert)) if ca else ("http", True)
    response = httpx.head(
        f"{scheme}://{state.address}/v2/{repository}/manifests/{digest}",
        auth=(USER, PASSWORD),
        verify=verify,
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    return response.status_code


def _snapshot(label: Label) -> tuple[bytes, bytes]:
    return image_digest_file(label).read_bytes(), pushed_record_file(label).read_bytes()


# -- what works --------------------------------------------------------------------------------


def test_tls_and_basic_auth_from_auth_json_push_then_skip_what_is_there(built, basic_registry, ca, home):
    auth = write_auth_file(home / "run" / "containers" / "auth.json", basic_registry.address, USER, PASSWORD)
    assert auth.exists()
    first = push_image(IMAGE, basic_registry.address, ca_file=ca.cert)
    assert first.blobs_sent == first.blobs_total and first.bytes_sent == first.bytes_total
    assert json.loads(pushed_record_file(IMAGE).read_text())["reference"] == first.reference
    assert _manifest_status(basic_registry, first.repository, first.digest, ca) == 200
    again = push_image(IMAGE, basic_registry.address, ca_file=ca.cert)
    assert (again.digest, again.blobs_sent, again.sent) == (first.digest, 0, [])
    _, manifest, _ = read_manifest(image_layout_dir(IMAGE))
    blob_bytes = sum(d["size"] for d in [manifest["config"], *manifest["layers"]])
    assert again.bytes_sent == again.bytes_total - blob_bytes  # only the manifest itself went again


def test_credentials_from_docker_config_json(basic_registry, ca, home, tmp_path):
    write_auth_file(home / ".docker" / "config.json", basic_registry.address, USER, PASSWORD)
    layout, digest, _ = _layout(tmp_path)
    result = push_layout(layout, basic_registry.address, "team/from-docker-config", ca_file=ca.cert)
    assert result.digest == digest and result.blobs_sent == 4
    assert _manifest_status(basic_registry, "team/from-docker-config", digest, ca) == 200


def test_credentials_from_a_credential_helper(basic_registry, ca, home, tmp_path, monkeypatch):
    """auth.json names a helper for this registry (``credHelpers``); skopeo runs
    ``docker-credential-<name> get`` with the server on stdin, as docker does."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "helper-calls"
    _helper(bin_dir, "cftest", calls)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    auth = home / ".config" / "containers" / "auth.json"
    auth.parent.mkdir(parents=True)
    auth.write_text(json.dumps({"credHelpers": {basic_registry.address: "cftest"}}))
    layout, digest, _ = _layout(tmp_path)
    result = push_layout(layout, basic_registry.address, "team/from-helper", ca_file=ca.cert)
    assert result.digest == digest
    assert basic_registry.address in calls.read_text()


def _helper(bin_dir: Path, name: str, calls: Path) -> None:
    """A docker credential helper speaking the helpers' protocol (``get``, server on stdin, JSON)."""
    bin_dir.mkdir(exist_ok=True)
    helper = bin_dir / f"docker-credential-{name}"
    helper.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = get ] || exit 1\nread server\necho "$server" >> {calls}\n'
        f'printf \'{{"ServerURL":"%s","Username":"{USER}","Secret":"{PASSWORD}"}}\' "$server"\n'
    )
    helper.chmod(0o755)


def test_credentials_from_docker_credentials_store(basic_registry, ca, home, tmp_path, monkeypatch):
    """``docker login`` with a store configured writes only ``credsStore`` and an empty entry;
    skopeo 1.9 does not read credsStore, so push asks the helper (tools/oci/credentials.py)."""
    _helper(tmp_path / "bin", "cfstore", tmp_path / "calls")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    config = home / ".docker" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"auths": {basic_registry.address: {}}, "credsStore": "cfstore"}))
    layout, digest, _ = _layout(tmp_path)
    assert push_layout(layout, basic_registry.address, "team/from-store", ca_file=ca.cert).digest == digest
    assert (tmp_path / "calls").read_text().split() == [basic_registry.address]
    config.write_text(json.dumps({"auths": {}, "credsStore": "nosuchstore"}))
    with pytest.raises(UserError) as caught:
        push_layout(layout, basic_registry.address, "team/from-store", ca_file=ca.cert)
    assert str(caught.value) == (
        f"{config}: credsStore: names the credential helper docker-credential-nosuchstore, "
        "which is not on PATH"
    )


def test_the_environment_data_names_the_ca(basic_registry, ca, home, tmp_path):
    """registryTLS.caFile in an environment file is what push trusts (no CA: the system bundle)."""
    data = yaml.safe_load((REPO_ROOT / "platform" / "environments" / "staging.yaml").read_text())
    data["registry"], data["registryTLS"] = f"{basic_registry.address}/ai-serving", {"caFile": str(ca.cert)}
    (tmp_path / "staging.yaml").write_text(yaml.safe_dump(data))
    environment = load_environment_file(tmp_path / "staging.yaml")
    write_auth_file(home / "run" / "containers" / "auth.json", basic_registry.address, USER, PASSWORD)
    layout, digest, _ = _layout(tmp_path)
    tls = tls_from_environment(environment.registryTLS)
    assert tls == {"ca_file": ca.cert, "insecure": False}
    result = push_layout(layout, environment.registry, "models/yolo/image", **tls)
    assert result.reference == f"{basic_registry.address}/ai-serving/models/yolo/image@{digest}"
    assert _manifest_status(basic_registry, "ai-serving/models/yolo/image", digest, ca) == 200


def test_token_flow_and_cross_repository_mount(token_registry, ca, home, tmp_path):
    server, state = token_registry
    write_auth_file(home / "run" / "containers" / "auth.json", state.address, USER, PASSWORD)
    layout, digest, layers = _layout(tmp_path, sizes=(50_000, 60_000, 70_000))
    first = push_layout(layout, state.address, "models/base-user-a", ca_file=ca.cert)
    assert (first.blobs_sent, first.blobs_mounted) == (4, 0)
    # Another repository of the same registry: the layers are mounted from the first one (only
    # the config, which containers/image never mounts, is sent), under a token scoped to both.
    second = push_layout(layout, state.address, "models/base-user-b", ca_file=ca.cert)
    assert second.blobs_mounted == len(layers) and second.blobs_sent == 1
    assert second.bytes_sent < first.bytes_sent - sum(layer["size"] for layer in layers) + 1000
    assert _manifest_status_token(state, "models/base-user-b", digest, ca, server) == 200
    scopes = {(a["name"], tuple(sorted(a["actions"]))) for claims in server.issued for a in claims["access"]}
    assert ("models/base-user-b", ("pull", "push")) in scopes and ("models/base-user-a", ("pull",)) in scopes
    assert all(claims["sub"] == USER for claims in server.issued)


def test_a_second_image_on_the_same_base_mounts_the_shared_layers(built, repo_copy, tmp_path, home):
    """What `./dev demo gpt2` after yolo does: a second image sharing base layers, pushed to its own
    repository of the same registry, sends its own blobs only; the shared layers are mounted."""
    child = build_image(Label(HELLO, "child"), root=repo_copy)
    _, image_manifest, _ = read_manifest(built.layout_dir)
    _, child_manifest, _ = read_manifest(child.layout_dir)
    shared = {d["digest"] for d in image_manifest["layers"]} & {d["digest"] for d in child_manifest["layers"]}
    assert len(shared) >= 3  # Debian, python3.11, site-packages at least
    state = registry.start(free_port(), state_dir=tmp_path / "registry")
    try:
        first = push_image(IMAGE, state.address)
        assert first.blobs_sent == first.blobs_total
        second = push_image(child.label, state.address)
        assert second.repository != first.repository
        assert second.blobs_mounted == len(shared) and shared.isdisjoint(second.sent)
        assert (
            second.bytes_sent
            < sum(d["size"] for d in child_manifest["layers"] if d["digest"] not in shared) + 10_000
        )
    finally:
        registry.stop(state_dir=tmp_path / "registry")


def _manifest_status_token(state, repository, digest, ca, server) -> int:
    token = httpx.get(
        server.realm,
        params={"service": server.service, "scope": f"repository:{repository}:pull"},
        auth=(USER, PASSWORD),
        verify=ssl.create_default_context(cafile=ca.cert),
    ).json()["token"]
    response = httpx.head(
        f"https://{state.address}/v2/{repository}/manifests/{digest}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.oci.image.manifest.v1+json"},
        verify=ssl.create_default_context(cafile=ca.cert),
    )
    return response.status_code


# -- failures: one line, nothing recorded, no manifest -----------------------------------------


@pytest.mark.parametrize("credentials", ["wrong password", "none"])
def test_refused_credentials(built, basic_registry, local_registry, ca, home, credentials):
    if credentials == "wrong password":
        write_auth_file(home / "run" / "containers" / "auth.json", basic_registry.address, USER, "hunter2")
    push_image(IMAGE, local_registry.address)  # a record from an earlier good push
    before = _snapshot(IMAGE)
    with pytest.raises(UserError) as caught:
        push_image(IMAGE, basic_registry.address, repository="team/refused", ca_file=ca.cert)
    message = str(caught.value)
    assert "\n" not in message and "hunter2" not in message
    assert f"registry {basic_registry.address} refused the push to team/refused" in message, message
    assert "log in" in message and "registry start" not in message
    assert _snapshot(IMAGE) == before
    assert _manifest_status(basic_registry, "team/refused", built.digest, ca) == 404


@pytest.mark.parametrize("trust", ["system bundle only", "another CA"])
def test_unknown_ca(built, basic_registry, home, tmp_path, trust):
    write_auth_file(home / "run" / "containers" / "auth.json", basic_registry.address, USER, PASSWORD)
    other = (
        CertificateAuthority.create(tmp_path / "other-ca", name="some other CA").cert
        if trust == "another CA"
        else None
    )
    with pytest.raises(UserError) as caught:
        push_image(IMAGE, basic_registry.address, repository="team/untrusted", ca_file=other, insecure=False)
    message = str(caught.value)
    assert "\n" not in message
    assert f"registry {basic_registry.address}: its TLS certificate is not trusted" in message, message
    assert "certificate signed by unknown authority" in message and "registryTLS.caFile" in message


def test_expired_token(ca, home, tmp_path):
    """The token server hands out tokens already past their expiry (beyond distribution's 60 s
    leeway), as a token service with a skewed clock or a stale cached token would."""
    expired = tmp_path / "expired-registry"
    expired.mkdir()
    with token_auth_registry(ca, expired, lifetime=-600) as (server, state):
        write_auth_file(home / "run" / "containers" / "auth.json", state.address, USER, PASSWORD)
        layout, digest, _ = _layout(tmp_path)
        with pytest.raises(UserError) as caught:
            push_layout(layout, state.address, "team/expired", ca_file=ca.cert)
        message = str(caught.value)
        assert "\n" not in message
        assert f"registry {state.address} refused the push to team/expired" in message, message
        assert server.issued and all(claims["exp"] < time.time() - 60 for claims in server.issued)
        server.token_lifetime = 300  # the same push with a valid token goes through
        assert push_layout(layout, state.address, "team/expired", ca_file=ca.cert).digest == digest


def test_remote_registry_down_does_not_suggest_the_local_registry(built, home):
    # 127.0.0.2 routes to this machine but is not the local registry's address: a "remote" one.
    with pytest.raises(UserError) as caught:
        push_image(IMAGE, f"127.0.0.2:{free_port()}")
    message = str(caught.value)
    assert "is not reachable" in message and "registry start" not in message and "\n" not in message


def test_registry_killed_mid_push_then_rerun_sends_only_what_is_missing(
    build_dir, local_registry, tmp_path, home
):
    """Two small layers, then three large ones: the registry is SIGKILLed as soon as the small ones
    are stored, while the large ones are on the wire."""
    label = Label("tools/oci/tests/testdata/large", "image")
    layout = image_layout_dir(label)
    layout.parent.mkdir(parents=True, exist_ok=True)
    digest, layers = random_layout(layout, [1500, 2500, 64 << 20, 64 << 20, 64 << 20])
    image_digest_file(label).write_text(digest + "\n")
    state_dir = tmp_path / "registry"
    state = registry.start(free_port(), state_dir=state_dir)
    try:
        push_image(label, local_registry.address)  # an earlier push elsewhere: the record to keep
        before = _snapshot(label)
        repository = "models/large/image"
        small = [layer["digest"] for layer in layers[:2]]
        blob_dir = (
            state_dir / "storage" / "docker" / "registry" / "v2" / "repositories" / repository / "_layers"
        )
        outcome: dict = {}

        def push() -> None:
            try:
                outcome["result"] = push_image(label, state.address, repository=repository)
            except UserError as error:
                outcome["error"] = error

        pusher = threading.Thread(target=push)
        pusher.start()
        deadline = time.monotonic() + 60
        while not all((blob_dir / "sha256" / d.removeprefix("sha256:")).exists() for d in small):
            assert time.monotonic() < deadline and pusher.is_alive(), "the push never stored the small layers"
            time.sleep(0.002)
        os.kill(state.pid, signal.SIGKILL)
        pusher.join(120)
        assert "error" in outcome, f"the push finished before the kill: {outcome}"
        message = str(outcome["error"])
        assert "\n" not in message and f"registry {state.address} is not reachable or went away" in message
        assert _snapshot(label) == before  # the earlier record and the digest file, byte for byte

        present = {p.name for p in (blob_dir / "sha256").iterdir()}
        assert 2 <= len(present) < len(layers) + 1  # mid-push: some blobs stored, not all
        state = registry.start(state.port, state_dir=state_dir)  # same storage, back up
        assert _manifest_status(state, repository, digest) == 404  # nothing half-stamped
        result = push_image(label, state.address, repository=repository)
        all_blobs = [
            json.loads((layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_text())["config"]
        ]
        wanted = [d["digest"] for d in [*all_blobs, *layers]]
        assert sorted(result.sent) == sorted(d for d in wanted if d.removeprefix("sha256:") not in present)
        assert set(small).isdisjoint(result.sent)
        assert json.loads(pushed_record_file(label).read_text())["repository"] == repository
        assert _manifest_status(state, repository, digest) == 200
    finally:
        registry.stop(state_dir=state_dir)
