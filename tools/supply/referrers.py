"""OCI 1.1 referrers: artifacts about an image (SBOM, provenance, signatures) linked by ``subject``.

In the layout they are manifests listed in index.json after the image (tools/oci reads the first
entry as the image, so they never get in its way). On push, each goes up by digest; a registry
without the referrers API (docker-registry 2.8 answers no ``OCI-Subject`` header) gets the
spec's fallback: an image index tagged ``sha256-<hex of the subject>`` listing them. Signatures
are also tagged ``sha256-<hex>.sig``, the name under which podman/skopeo/CRI-O look for sigstore
signatures (registries.d ``use-sigstore-attachments: true``). The push trusts and authenticates as
the image push does (tools/oci/registry_http.py: its CA file, the credentials skopeo would use).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import httpx

from tools.errors import UserError
from tools.oci.layout import INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, canonical_json
from tools.oci.registry_http import open_repository
from tools.supply.contents import blob_path, image_manifest

EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
SIGNATURE_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
IDENTITY_ANNOTATION = "dev.servectl.identity"  # which registry/repository a signature names


@dataclass
class Referrer:
    descriptor: dict  # as listed in index.json (mediaType, digest, size, artifactType, annotations)
    manifest: dict

    @property
    def artifact_type(self) -> str:
        return self.manifest.get("artifactType", "")

    def layer_bytes(self, layout_dir: Path) -> bytes:
        (layer,) = self.manifest["layers"]
        data = blob_path(layout_dir, layer["digest"]).read_bytes()
        if "sha256:" + hashlib.sha256(data).hexdigest() != layer["digest"]:
            raise UserError(f"{self.artifact_type} blob {layer['digest']} was tampered with", file=layout_dir)
        return data


def _store(layout_dir: Path, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(layout_dir, digest)
    if not path.exists():
        path.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def attach(
    layout_dir: Path,
    artifact_type: str,
    media_type: str,
    data: bytes,
    annotations: dict[str, str] | None = None,
) -> dict:
    """Adds (or replaces: same artifact type and annotations) a referrer of the layout's image."""
    subject_digest, _, _ = image_manifest(layout_dir)
    subject_bytes = blob_path(layout_dir, subject_digest).read_bytes()
    layer = {"mediaType": media_type, **_store(layout_dir, data)}
    if annotations:
        layer["annotations"] = dict(annotations)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, **_store(layout_dir, EMPTY)},
        "layers": [layer],
        "subject": {"mediaType": MANIFEST_MEDIA_TYPE, "digest": subject_digest, "size": len(subject_bytes)},
    }
    if annotations:
        manifest["annotations"] = {k: v for k, v in annotations.items() if k == IDENTITY_ANNOTATION}
    descriptor = {
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": artifact_type,
        **_store(layout_dir, canonical_json(manifest)),
    }
    if manifest.get("annotations"):
        descriptor["annotations"] = manifest["annotations"]
    index_path = layout_dir / "index.json"
    index = json.loads(index_path.read_text())
    kept = [
        m
        for m in index["manifests"]
        if not (
            m.get("artifactType") == artifact_type and m.get("annotations") == descriptor.get("annotations")
        )
    ]
    index["manifests"] = [*kept, descriptor]
    tmp = index_path.with_name(".index.json.tmp")
    tmp.write_bytes(canonical_json(index))
    tmp.replace(index_path)
    return descriptor


def list_referrers(layout_dir: Path, artifact_type: str | None = None) -> list[Referrer]:
    """The layout's referrers of its image (optionally of one artifact type), digests checked."""
    subject_digest, _, _ = image_manifest(layout_dir)
    index = json.loads((layout_dir / "index.json").read_text())
    found = []
    for descriptor in index["manifests"]:
        if "artifactType" not in descriptor:
            continue
        data = blob_path(layout_dir, descriptor["digest"]).read_bytes()
        if "sha256:" + hashlib.sha256(data).hexdigest() != descriptor["digest"]:
            raise UserError(f"referrer manifest {descriptor['digest']} was tampered with", file=layout_dir)
        manifest = json.loads(data)
        if manifest.get("subject", {}).get("digest") != subject_digest:
            continue
        if artifact_type is None or manifest.get("artifactType") == artifact_type:
            found.append(Referrer(descriptor, manifest))
    return found


# -- push ----------------------------------------------------------------------------------------


def _check(response: httpx.Response, what: str, registry: str, *ok: int) -> httpx.Response:
    if response.status_code not in ok:
        raise UserError(
            f"registry {registry} rejected {what}: HTTP {response.status_code} {response.text[:200]}"
        )
    return response


def _put_blob(client: httpx.Client, base: str, registry: str, data: bytes, digest: str) -> None:
    if client.head(f"{base}/blobs/{digest}").status_code == 200:
        return
    started = _check(client.post(f"{base}/blobs/uploads/"), f"an upload of {digest}", registry, 202)
    location = httpx.URL(base).join(started.headers["location"]).copy_merge_params({"digest": digest})
    _check(
        client.put(location, content=data, headers={"Content-Type": "application/octet-stream"}),
        f"blob {digest}",
        registry,
        201,
    )


def _put_manifest(client, base, registry, reference: str, data: bytes, media_type: str) -> httpx.Response:
    response = client.put(f"{base}/manifests/{reference}", content=data, headers={"Content-Type": media_type})
    return _check(response, f"manifest {reference}", registry, 201)


def fallback_tag(digest: str) -> str:
    return digest.replace(":", "-")


def push_referrers(
    layout_dir: Path,
    registry: str,
    repository: str,
    *,
    ca_file: Path | None = None,
    insecure: bool | None = None,
) -> int:
    """Pushes every referrer of the layout's image next to it; returns how many. TLS and
    credentials as the image push (``ca_file``/``insecure`` as push_layout takes them)."""
    subject_digest, _, _ = image_manifest(layout_dir)
    referrers = list_referrers(layout_dir)
    repo = open_repository(registry, repository, ca_file=ca_file, insecure=insecure)
    client, base = repo.client, repo.base
    accept = {"Accept": INDEX_MEDIA_TYPE}
    try:
        api = True
        for referrer in referrers:
            for desc in [referrer.manifest["config"], *referrer.manifest["layers"]]:
                _put_blob(
                    client,
                    base,
                    registry,
                    blob_path(layout_dir, desc["digest"]).read_bytes(),
                    desc["digest"],
                )
            data = blob_path(layout_dir, referrer.descriptor["digest"]).read_bytes()
            put = _put_manifest(
                client, base, registry, referrer.descriptor["digest"], data, MANIFEST_MEDIA_TYPE
            )
            api = api and put.headers.get("OCI-Subject") == subject_digest
        if not api:  # the referrers tag schema: one index per subject, merged with what is there
            tag = fallback_tag(subject_digest)
            existing = client.get(f"{base}/manifests/{tag}", headers=accept)
            listed = existing.json().get("manifests", []) if existing.status_code == 200 else []
            ours = {r.descriptor["digest"] for r in referrers}
            replaced = {(r.artifact_type, json.dumps(r.descriptor.get("annotations"))) for r in referrers}
            kept = [
                m
                for m in listed
                if m["digest"] not in ours
                and (m.get("artifactType"), json.dumps(m.get("annotations"))) not in replaced
            ]
            index = {
                "schemaVersion": 2,
                "mediaType": INDEX_MEDIA_TYPE,
                "manifests": [*kept, *(r.descriptor for r in referrers)],
            }
            _put_manifest(client, base, registry, tag, canonical_json(index), INDEX_MEDIA_TYPE)
        signatures = [r for r in referrers if r.artifact_type == SIGNATURE_ARTIFACT_TYPE]
        if signatures:
            _push_sigstore_attachment(client, base, registry, layout_dir, subject_digest, signatures)
    except httpx.HTTPError as error:
        raise UserError(f"registry {registry} is not reachable ({type(error).__name__}: {error})") from None
    finally:
        repo.close()
    return len(referrers)


def _push_sigstore_attachment(client, base, registry, layout_dir, subject_digest, signatures) -> None:
    """The ``sha256-<hex>.sig`` manifest containers/image reads: one layer per signature."""
    layers = [layer for r in signatures for layer in r.manifest["layers"]]
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": signatures[0].manifest["config"],
        "layers": layers,
    }
    _put_manifest(
        client,
        base,
        registry,
        fallback_tag(subject_digest) + ".sig",
        canonical_json(manifest),
        MANIFEST_MEDIA_TYPE,
    )
