"""Speaking the distribution API ourselves, with the image push's TLS and credentials.

skopeo pushes images (tools/oci/push.py), but it cannot put what OCI 1.1 referrers need: its
containers/image 5.23 rewrites an index whose entries carry ``artifactType`` (so the referrers
tag-schema index cannot keep its digest), and it never shows the ``OCI-Subject`` header that says
whether a registry has the referrers API. tools/supply/referrers.py therefore talks HTTP with this
client, which trusts and authenticates exactly as the push does: the same ``ca_file`` added to the
system CA bundle, ``insecure`` for loopback only (HTTPS unverified, else plain HTTP, as skopeo's
``--dest-tls-verify=false``), and the credentials skopeo would find (tools/oci/credentials.py),
sent as HTTP basic or traded for a bearer token per the registry's ``WWW-Authenticate``
challenge (docker's token flow, identity tokens included).
"""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tools.errors import UserError
from tools.oci.credentials import find_credentials
from tools.oci.push import is_loopback, registry_host

_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
_PARAM = re.compile(r'(\w+)="([^"]*)"')


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


class RegistryAuth(httpx.Auth):
    """Answers a registry's 401 challenge once: ``Basic`` with the credentials, or ``Bearer`` with
    a token from the challenge's realm for ``repository:<name>:pull,push`` (cached per scope)."""

    requires_response_body = True

    def __init__(self, registry: str, name: str, credentials: tuple[str, str] | None):
        self.registry, self.name, self.credentials = registry, name, credentials
        self._header: str | None = None  # what the last challenge was answered with

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._header:
            request.headers["Authorization"] = self._header
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            if self.credentials is None or self.credentials[0] == "<token>":
                self._refuse("it wants a user and password and none are stored for it")
            self._header = _basic(*self.credentials)
        elif scheme.lower() == "bearer":
            token_response = yield self._token_request(dict(_PARAM.findall(params)))
            if token_response.status_code != 200:
                self._refuse(f"its token service answered HTTP {token_response.status_code}")
            answer = token_response.json()
            token = answer.get("token") or answer.get("access_token")
            if not token:
                self._refuse("its token service answered no token")
            self._header = f"Bearer {token}"
        else:
            self._refuse(f"unknown authentication scheme {scheme!r}")
        request.headers["Authorization"] = self._header
        response = yield request
        if response.status_code in (401, 403):
            self._refuse(f"HTTP {response.status_code} with the stored credentials")

    def _token_request(self, challenge: dict[str, str]) -> httpx.Request:
        realm = challenge.get("realm")
        if not realm:
            self._refuse("its Bearer challenge names no realm")
        scopes = [f"repository:{self.name}:pull,push"]
        if challenge.get("scope") and challenge["scope"] not in scopes:
            scopes.append(challenge["scope"])
        params = {"service": challenge.get("service", ""), "scope": scopes}
        if self.credentials and self.credentials[0] == "<token>":  # an OAuth2 refresh token
            form = {**params, "grant_type": "refresh_token", "refresh_token": self.credentials[1]}
            form["client_id"], form["scope"] = "servectl", " ".join(scopes)
            return httpx.Request("POST", realm, data=form)
        headers = {"Authorization": _basic(*self.credentials)} if self.credentials else {}
        return httpx.Request("GET", realm, params=params, headers=headers)

    def _refuse(self, why: str) -> None:
        raise UserError(
            f"registry {self.registry} refused the credentials for {self.name} ({why}); log in with "
            f"`skopeo login {registry_host(self.registry)}` (or podman/docker login, or a credential "
            "helper named in auth.json / ~/.docker/config.json)"
        )


@dataclass
class Repository:
    """One repository of a registry: ``client`` is authenticated, ``base`` is ``.../v2/<name>``."""

    client: httpx.Client
    base: str
    name: str

    def close(self) -> None:
        self.client.close()


def _tls(registry: str, ca_file: Path | None, insecure: bool) -> tuple[str, ssl.SSLContext | bool]:
    if insecure:
        if not is_loopback(registry):
            raise UserError(
                f"registry {registry}: insecure (plain HTTP, unverified TLS) is for loopback only"
            )
        return "https", False
    context = ssl.create_default_context()  # the system CA bundle, as skopeo
    if ca_file is not None:
        if not ca_file.is_file():
            raise UserError(f"the registry CA file {ca_file} does not exist")
        context.load_verify_locations(cafile=str(ca_file))  # added to the system pool, not replacing it
    return "https", context


def open_repository(
    registry: str, repository: str, *, ca_file: Path | None = None, insecure: bool | None = None
) -> Repository:
    """A client for ``registry/repository`` (``registry`` may carry a path: ``host/team``)."""
    if insecure is None:  # as push_layout: our own loopback registry speaks plain HTTP
        insecure = is_loopback(registry) and ca_file is None
    host = registry_host(registry)
    prefix = registry[len(host) :].strip("/")
    name = f"{prefix}/{repository}" if prefix else repository
    scheme, verify = _tls(registry, ca_file, insecure)
    auth = RegistryAuth(registry, name, find_credentials(host))
    client = httpx.Client(timeout=_TIMEOUT, verify=verify, auth=auth)
    try:
        client.get(f"{scheme}://{host}/v2/")
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as error:
        if not insecure:
            client.close()
            raise _unreachable(registry, error) from None
        scheme = "http"  # unverified TLS did not answer: plain HTTP, as skopeo falls back
    except httpx.HTTPError as error:
        client.close()
        raise _unreachable(registry, error) from None
    return Repository(client, f"{scheme}://{host}/v2/{name}", name)


def _unreachable(registry: str, error: Exception) -> UserError:
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return UserError(
            f"registry {registry}: its TLS certificate is not trusted ({text.splitlines()[0]}); name the CA "
            "that signed it in the environment's registryTLS.caFile, or add it to the system CA bundle"
        )
    return UserError(f"registry {registry} is not reachable ({type(error).__name__}: {text})")
