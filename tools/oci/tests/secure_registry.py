"""Registries shaped like the ones teams run, for the push tests: a test CA made with openssl, TLS,
htpasswd (bcrypt) basic auth, and the bearer-token flow behind a token server.

docker-registry (distribution 2.8) is the real registry. No token server is packaged for Debian
(cesanta/docker_auth, Harbor and the cloud registries' are not installable here), so
``TokenServer`` is a minimal one written for these tests: it checks HTTP basic credentials and
issues the RS256 JWT distribution's ``auth.token`` verifies (issuer, audience, expiry, an ``x5c``
chain to its ``rootcertbundle``, ``access`` claims), signed with openssl. It is test code, not part
of the platform.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import bcrypt

from tools.oci import registry
from tools.oci.layout import CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, canonical_json
from tools.testing.ports import free_port


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass
class CertificateAuthority:
    """A throwaway certificate authority: ``ca.crt`` signs the servers' certificates."""

    directory: Path

    @property
    def cert(self) -> Path:
        return self.directory / "ca.crt"

    @classmethod
    def create(cls, directory: Path, name: str = "creativeflow test CA") -> CertificateAuthority:
        directory.mkdir(parents=True, exist_ok=True)
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory,
        )  # fmt: skip
        return cls(directory)

    def issue(self, name: str) -> tuple[Path, Path]:
        """(certificate, key) for a server on 127.0.0.1 / localhost (Go checks the SAN, not the CN)."""
        (self.directory / f"{name}.ext").write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
        )
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}", cwd=self.directory,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=self.directory,
        )  # fmt: skip
        return self.directory / f"{name}.crt", self.directory / f"{name}.key"


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    """An htpasswd file with bcrypt entries, the only kind distribution accepts."""
    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}"
        for user, password in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_auth_file(path: Path, registry: str, user: str, password: str) -> Path:
    """containers' auth.json / docker's config.json, as ``podman login`` / ``docker login`` write it."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": {registry: {"auth": token}}}))
    return path


def random_layout(directory: Path, sizes: list[int]) -> tuple[str, list[dict]]:
    """An OCI layout with one random blob per size; returns (manifest digest, layer descriptors)."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes, media_type: str) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    layers = [put(os.urandom(size), "application/vnd.oci.image.layer.v1.tar") for size in sizes]
    config = put(
        canonical_json({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [
            layer["digest"] for layer in layers]}}),
        CONFIG_MEDIA_TYPE,
    )  # fmt: skip
    manifest = put(
        canonical_json(
            {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "config": config, "layers": layers}
        ),
        MANIFEST_MEDIA_TYPE,
    )
    (directory / "index.json").write_bytes(canonical_json({"schemaVersion": 2, "manifests": [manifest]}))
    (directory / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    return manifest["digest"], layers


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenServer:
    """Docker's token authentication (``GET realm?service=&scope=`` with basic credentials,
    answered with ``{"token": JWT}``), over HTTPS with a certificate from the test CA."""

    ca: CertificateAuthority
    users: dict[str, str]
    service: str = "creativeflow-test-registry"
    issuer: str = "creativeflow-test-token-server"
    token_lifetime: int = 300  # seconds; negative: tokens that are already expired when issued
    issued: list[dict] = field(default_factory=list)  # the claims of every token handed out

    def start(self) -> TokenServer:
        directory = self.ca.directory
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "signing.key", "-out", "signing.crt",
            "-days", "2", "-subj", "/CN=token signer", cwd=directory,
        )  # fmt: skip
        self.signing_key = directory / "signing.key"
        self.signing_cert = directory / "signing.crt"
        der = subprocess.run(
            ["openssl", "x509", "-in", str(self.signing_cert), "-outform", "DER"],
            capture_output=True,
            check=True,
        ).stdout
        self._x5c = base64.b64encode(der).decode()
        cert, key = self.ca.issue("token-server")
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                status, body = server._answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def realm(self) -> str:
        return f"https://127.0.0.1:{self._httpd.server_address[1]}/token"

    def registry_auth(self) -> dict:
        """The ``auth`` section of the registry's config that trusts this server's tokens."""
        return {
            "token": {
                "realm": self.realm,
                "service": self.service,
                "issuer": self.issuer,
                "rootcertbundle": str(self.signing_cert),
            }
        }

    def _answer(self, path: str, authorization: str) -> tuple[int, dict]:
        query = parse_qs(urlparse(path).query)
        user, _, password = (
            base64.b64decode(authorization.removeprefix("Basic ")).decode().partition(":")
            if authorization.startswith("Basic ")
            else ("", "", "")
        )
        if not user or self.users.get(user) != password:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username/password"}]}
        access = []
        for scope in query.get("scope", []):
            for one in scope.split(" "):
                kind, _, rest = one.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user,
            "aud": query.get("service", [""])[0],
            "iat": now,
            "nbf": now - 10,
            "exp": now + self.token_lifetime,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = f"{_b64url(canonical_json(header))}.{_b64url(canonical_json(claims))}"
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.signing_key)],
            input=signing_input.encode(),
            capture_output=True,
            check=True,
        ).stdout
        self.issued.append(claims)
        token = f"{signing_input}.{_b64url(signature)}"
        return 200, {"token": token, "access_token": token, "expires_in": max(self.token_lifetime, 60)}


# The one account every secure registry of the tests knows.
USER, PASSWORD = "ci-pusher", "correct horse battery staple"


@contextlib.contextmanager
def basic_auth_registry(ca: CertificateAuthority, state_dir: Path) -> Iterator[registry.RegistryState]:
    """TLS with a certificate from the test CA, htpasswd (bcrypt) basic auth for USER."""
    htpasswd = write_htpasswd(state_dir / "htpasswd", {USER: PASSWORD})
    state = registry.start(
        free_port(),
        state_dir=state_dir,
        tls=ca.issue(state_dir.name),
        auth={"htpasswd": {"realm": "creativeflow-test", "path": str(htpasswd)}},
    )
    try:
        yield state
    finally:
        registry.stop(state_dir=state_dir)


@contextlib.contextmanager
def token_auth_registry(
    ca: CertificateAuthority, state_dir: Path, lifetime: int = 300
) -> Iterator[tuple[TokenServer, registry.RegistryState]]:
    """TLS, and the bearer-token flow: 401 with a realm, a JWT from the token server, retry."""
    server = TokenServer(ca, {USER: PASSWORD}, token_lifetime=lifetime).start()
    try:
        state = registry.start(
            free_port(), state_dir=state_dir, tls=ca.issue(state_dir.name), auth=server.registry_auth()
        )
        try:
            yield server, state
        finally:
            registry.stop(state_dir=state_dir)
    finally:
        server.stop()


def isolated_home(tmp_path: Path, monkeypatch) -> Path:
    """A HOME of the test's own: skopeo (and our registry client) read credentials from
    $HOME/.docker/config.json, $XDG_RUNTIME_DIR/containers/auth.json or $REGISTRY_AUTH_FILE; none of
    the machine's are used."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home / "run"))
    for name in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return home
