"""Pushes a built OCI layout to a registry over the distribution HTTP API, blob by blob.

Why the HTTP API and not ``skopeo copy``: we need to know exactly which blobs were missing and how
many bytes went over the wire (the incremental-push promise is measured, not assumed), and a
failure must be one clear line. Each blob is checked with ``HEAD`` and uploaded only when the
registry lacks it (monolithic ``POST`` + ``PUT ?digest=``); the manifest is put by digest, no tag,
and the registry's ``Docker-Content-Digest`` must equal the built digest. Only then is the push
recorded in ``<image>.digest.pushed`` (JSON) for resolve/apply; a failed push leaves no record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from tools.errors import UserError
from tools.labels import Label, image_repository
from tools.oci.layout import MANIFEST_MEDIA_TYPE
from tools.paths import image_digest_file, image_layout_dir

_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


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


def pushed_record_file(label: Label) -> Path:
    digest_file = image_digest_file(label)
    return digest_file.with_name(digest_file.name + ".pushed")


def read_pushed(label: Label) -> dict | None:
    """The last successful push of ``label`` (as written by push_image), or None."""
    try:
        return json.loads(pushed_record_file(label).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _registry_error(response: httpx.Response, what: str, registry: str) -> UserError:
    try:
        errors = response.json().get("errors") or []
        detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or response.text[:200]
    except ValueError:
        detail = response.text[:200].strip() or response.reason_phrase
    return UserError(f"registry {registry} rejected {what}: HTTP {response.status_code} {detail}")


def _upload_blob(client: httpx.Client, base: str, registry: str, path: Path, digest: str) -> None:
    started = client.post(f"{base}/blobs/uploads/")
    if started.status_code != 202:
        raise _registry_error(started, f"the upload of {digest}", registry)
    location = httpx.URL(base).join(started.headers["location"])
    with open(path, "rb") as data:
        finished = client.put(
            location.copy_merge_params({"digest": digest}),
            content=iter(lambda: data.read(1 << 20), b""),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(path.stat().st_size)},
        )
    if finished.status_code != 201:
        raise _registry_error(finished, f"blob {digest}", registry)


def push_layout(layout_dir: Path, registry: str, repository: str) -> PushResult:
    """Pushes the layout's image to ``registry/repository``; returns what was sent."""
    index = json.loads((layout_dir / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    blobs_dir = layout_dir / "blobs" / "sha256"
    manifest_bytes = (blobs_dir / digest.removeprefix("sha256:")).read_bytes()
    manifest = json.loads(manifest_bytes)
    descriptors = [manifest["config"], *manifest["layers"]]
    base = f"http://{registry}/v2/{repository}"
    sent = sent_bytes = 0
    try:
        with httpx.Client(timeout=_TIMEOUT) as client:
            for desc in descriptors:
                head = client.head(f"{base}/blobs/{desc['digest']}")
                if head.status_code == 200:
                    continue
                if head.status_code != 404:
                    raise _registry_error(head, f"a check for blob {desc['digest']}", registry)
                _upload_blob(
                    client, base, registry, blobs_dir / desc["digest"].removeprefix("sha256:"), desc["digest"]
                )
                sent += 1
                sent_bytes += desc["size"]
            put = client.put(
                f"{base}/manifests/{digest}",
                content=manifest_bytes,
                headers={"Content-Type": MANIFEST_MEDIA_TYPE},
            )
            if put.status_code != 201:
                raise _registry_error(put, "the manifest", registry)
            sent_bytes += len(manifest_bytes)
    except httpx.HTTPError as error:
        raise UserError(
            f"registry {registry} is not reachable ({type(error).__name__}: {error}); "
            "start the local one with: python -m tools registry start"
        ) from None
    answered = put.headers.get("docker-content-digest")
    if answered != digest:
        raise UserError(
            f"registry {registry} stored the manifest as {answered}, but the built digest is {digest}"
        )
    return PushResult(
        reference=f"{registry}/{repository}@{digest}",
        registry=registry,
        repository=repository,
        digest=digest,
        blobs_total=len(descriptors),
        blobs_sent=sent,
        bytes_sent=sent_bytes,
        bytes_total=sum(d["size"] for d in descriptors) + len(manifest_bytes),
    )


def push_image(label: Label, registry: str, repository: str | None = None) -> PushResult:
    """Pushes the built image of ``label``; records the push only when it fully succeeded."""
    layout_dir = image_layout_dir(label)
    if not (layout_dir / "index.json").exists():
        raise UserError(f"{label} is not built yet (run: python -m tools build {label})")
    record = pushed_record_file(label)
    record.unlink(missing_ok=True)  # a failed push must not leave an older success looking current
    result = push_layout(layout_dir, registry, repository or image_repository(label))
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps(asdict(result), indent=2, sort_keys=True) + "\n")
    tmp.replace(record)
    return result
