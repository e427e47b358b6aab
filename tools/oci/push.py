"""Pushes a built OCI layout to a registry with skopeo, and reports exactly what went over the wire.

Why skopeo (containers/image, the library podman and buildah push with) and not our own HTTP: it
speaks what real registries need and users already set up for podman/docker: HTTPS verified
against the system CA bundle (plus a CA named in the environment data), basic auth and the bearer
token flow with per-repository scopes, credentials from containers' auth.json, docker's
config.json and the credential helpers they name (never from this repo or the command line; docker's
global ``credsStore``, which skopeo 1.9 skips, is asked by tools/oci/credentials.py), and
cross-repository blob mounts from its blob info cache (a layer this machine pushed to or pulled
from another repository of the same registry is mounted, not sent again).

What we keep ourselves: the manifest is put by digest (no tag) and must come back with the built
digest; blobs the registry has are skipped, and which blobs were sent, mounted or already there is
read from skopeo's debug log, so the bytes-pushed report stays measured, not assumed. Only a push
that fully succeeded is recorded in ``<image>.digest.pushed`` (JSON) for resolve/apply; a failed
push leaves the previous record as it was and the registry without this manifest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tools.errors import UserError
from tools.labels import Label, image_repository
from tools.oci.credentials import credentials_store_arguments
from tools.paths import REPO_ROOT, image_digest_file, image_layout_dir

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

# containers/image debug lines (skopeo 1.9.3, the version tools/setup/apt-packages.txt pins) that
# say what happened to each blob; tools/oci/tests check the counts against a real registry.
_UPLOADED = re.compile(r"Upload of layer (sha256:[0-9a-f]{64}) complete")
_MOUNTING = re.compile(r"Trying to mount \S*[?&]mount=sha256%3A([0-9a-f]{64})")
_MOUNTED = re.compile(r'msg="\.\.\. mount OK"')
_FATAL = re.compile(r'level=fatal msg="(.*)"\s*$')


@dataclass
class PushResult:
    reference: str  # registry/repository@sha256:...
    registry: str
    repository: str
    digest: str
    blobs_total: int
    blobs_sent: int
    bytes_sent: int
    bytes_total: int
    blobs_mounted: int = 0  # taken from another repository of the same registry, not sent
    sent: list[str] = field(default_factory=list)  # digests of the blobs that went over the wire


def registry_host(registry: str) -> str:
    """``host[:port]`` of ``host[:port][/path]``."""
    return registry.split("/", 1)[0]


def is_loopback(registry: str) -> bool:
    return registry_host(registry).rsplit(":", 1)[0] in LOOPBACK_HOSTS


def pushed_record_file(label: Label) -> Path:
    digest_file = image_digest_file(label)
    return digest_file.with_name(digest_file.name + ".pushed")


def read_pushed(label: Label) -> dict | None:
    """The last successful push of ``label`` (as written by push_image), or None."""
    try:
        return json.loads(pushed_record_file(label).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _tls_arguments(registry: str, ca_file: Path | None, insecure: bool, cert_dir: Path) -> list[str]:
    if insecure:
        if not is_loopback(registry):
            raise UserError(
                f"registry {registry}: insecure (plain HTTP, unverified TLS) is for loopback only"
            )
        if ca_file is not None:
            raise UserError(f"registry {registry}: a CA file and insecure exclude each other")
        return ["--dest-tls-verify=false"]  # HTTPS unverified, else plain HTTP: our own loopback one
    if ca_file is None:
        return []  # the system CA bundle (and /etc/containers/certs.d, as podman does)
    if not ca_file.is_file():
        raise UserError(f"the registry CA file {ca_file} does not exist")
    # skopeo takes a directory of *.crt files, added to the system pool (not replacing it).
    shutil.copyfile(ca_file, cert_dir / "ca.crt")
    return ["--dest-cert-dir", str(cert_dir)]


def _one_line(message: str, registry: str, repository: str) -> str:
    """skopeo's error, shortened to what the user must act on, and what to do about it."""
    # logrus escapes quotes and newlines; the registry's own error lines come after the first.
    parts = [p.strip() for p in message.replace('\\"', '"').split("\\n") if p.strip()]
    text = "; ".join(parts)
    lower = text.lower()
    if "x509:" in lower:
        detail = text[lower.find("x509:") :]
        return (
            f"registry {registry}: its TLS certificate is not trusted ({detail}); name the CA that signed "
            "it in the environment's registryTLS.caFile, or add it to the system CA bundle"
        )
    refusals = [
        p for p in parts if any(w in p.lower() for w in ("unauthorized", "denied", "invalid username"))
    ]
    if refusals:
        detail = "; ".join(
            r[r.lower().rfind("unauthorized") :] if "unauthorized:" in r.lower() else r for r in refusals
        )
        by_token_service = "auth token" in lower or "invalid username/password" in lower
        why = (
            "its token service refused the credentials"
            if by_token_service
            else "the credentials or token are missing, wrong or expired, or lack the push right"
        )
        return (
            f"registry {registry} refused the push to {repository} ({detail}): {why}; log in with "
            f"`skopeo login {registry_host(registry)}` (or podman/docker login, or a credential helper "
            "named in auth.json / ~/.docker/config.json)"
        )
    unreachable = ("connection refused", "no such host", "i/o timeout", "connection reset", "eof", "no route")
    if any(word in lower for word in unreachable):
        reason = next(word for word in unreachable if word in lower)
        hint = (
            "; start the local one with: python -m tools registry start"
            if is_loopback(registry) and reason == "connection refused"
            else ""
        )
        return f"registry {registry} is not reachable or went away during the push ({reason}){hint}"
    return f"push to {registry}/{repository} failed: {text}"


def push_layout(
    layout_dir: Path,
    registry: str,
    repository: str,
    *,
    ca_file: Path | None = None,
    insecure: bool | None = None,
) -> PushResult:
    """Pushes the layout's image to ``registry/repository`` by digest; returns what was sent.

    ``ca_file``: a PEM CA trusted in addition to the system bundle. ``insecure``: plain HTTP or
    unverified TLS, loopback registries only; None means "if the registry is loopback and no CA
    file is given" (callers with environment data pass its registryTLS).
    """
    if shutil.which("skopeo") is None:
        raise UserError("skopeo is not installed (apt-get install skopeo; see tools/setup/apt-packages.txt)")
    index = json.loads((layout_dir / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    manifest_bytes = (layout_dir / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
    manifest = json.loads(manifest_bytes)
    descriptors = [manifest["config"], *manifest["layers"]]
    if insecure is None:  # no environment data: our own loopback registry speaks plain HTTP
        insecure = is_loopback(registry) and ca_file is None
    destination = f"docker://{registry}/{repository}@{digest}"
    with tempfile.TemporaryDirectory(prefix="cf-push-") as scratch:
        scratch_dir = Path(scratch)
        (scratch_dir / "certs").mkdir()
        command = [
            "skopeo", "--debug", "copy", "--preserve-digests",
            "--digestfile", str(scratch_dir / "digest"),
            *_tls_arguments(registry, ca_file, insecure, scratch_dir / "certs"),
            *credentials_store_arguments(registry_host(registry), scratch_dir),
            f"oci:{layout_dir}", destination,
        ]  # fmt: skip
        done = subprocess.run(
            command, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=os.environ
        )
        log = done.stderr
        if done.returncode != 0:
            fatal = [m.group(1) for line in log.splitlines() if (m := _FATAL.search(line))]
            detail = fatal[-1] if fatal else (log.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise UserError(_one_line(detail, registry, repository))
        answered = (scratch_dir / "digest").read_text().strip()
    if answered != digest:
        raise UserError(
            f"registry {registry} stored the manifest as {answered}, but the built digest is {digest}"
        )
    uploaded, mounted = _blob_outcomes(log)
    wanted = {d["digest"] for d in descriptors}
    mentioned = {d["digest"] for d in descriptors if d["digest"].removeprefix("sha256:") in log}
    # A blob the log never names is counted as sent: the report may overstate, never understate.
    sent = [d for d in descriptors if d["digest"] in uploaded or d["digest"] not in mentioned]
    return PushResult(
        reference=f"{registry}/{repository}@{digest}",
        registry=registry,
        repository=repository,
        digest=digest,
        blobs_total=len(descriptors),
        blobs_sent=len(sent),
        bytes_sent=sum(d["size"] for d in sent) + len(manifest_bytes),
        bytes_total=sum(d["size"] for d in descriptors) + len(manifest_bytes),
        blobs_mounted=len(mounted & wanted),
        sent=[d["digest"] for d in sent],
    )


def _blob_outcomes(log: str) -> tuple[set[str], set[str]]:
    """(uploaded, mounted) blob digests, read from skopeo's debug log."""
    uploaded: set[str] = set()
    mounted: set[str] = set()
    mounting = None
    for line in log.splitlines():
        if match := _UPLOADED.search(line):
            uploaded.add(match.group(1))
        elif match := _MOUNTING.search(line):
            mounting = "sha256:" + match.group(1)
        elif mounting and _MOUNTED.search(line):
            mounted.add(mounting)
            mounting = None
    return uploaded, mounted


def tls_from_environment(registry_tls, root: Path = REPO_ROOT) -> dict:
    """push_image's ``ca_file``/``insecure`` from an environment's ``registryTLS`` data
    (tools/k8s/schema/environments.py): ``push_image(label, env.registry, **tls_from_environment(...))``."""
    ca_file = registry_tls.caFile
    return {"ca_file": root / ca_file if ca_file is not None else None, "insecure": registry_tls.insecure}


def push_image(
    label: Label,
    registry: str,
    repository: str | None = None,
    *,
    ca_file: Path | None = None,
    insecure: bool | None = None,
) -> PushResult:
    """Pushes the built image of ``label``; records the push only when it fully succeeded."""
    layout_dir = image_layout_dir(label)
    if not (layout_dir / "index.json").exists():
        raise UserError(f"{label} is not built yet (run: python -m tools build {label})")
    result = push_layout(
        layout_dir, registry, repository or image_repository(label), ca_file=ca_file, insecure=insecure
    )
    record = pushed_record_file(label)
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps(asdict(result), indent=2, sort_keys=True) + "\n")
    tmp.replace(record)
    return result
