"""Writes an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/``) and its config.

JSON is canonical (sorted keys, compact separators) so equal inputs give equal digests; blobs are
hard-linked from the content-addressed cache when they share its file system.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from tools.oci import cache
from tools.paths import link_or_copy

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
# The tag skopeo and umoci address the image by (``oci:DIR:latest``), as rules_oci's layouts do.
REF_NAME = "latest"


def canonical_json(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def write_layout(layout_dir: Path, config: dict, layers: list) -> tuple[str, int]:
    """Writes the layout for ``config`` + ``layers`` (LayerBlobs); returns (manifest digest, size)."""
    config_digest, config_size = cache.store_bytes(canonical_json(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_size},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": b.digest, "size": b.size}
            for b in layers
        ],
    }
    manifest_digest, manifest_size = cache.store_bytes(canonical_json(manifest))
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [
            {
                "mediaType": MANIFEST_MEDIA_TYPE,
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": REF_NAME},
            }
        ],
    }
    layout_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=layout_dir.parent, prefix=f".{layout_dir.name}."))
    try:
        blobs = staging / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        for digest in [config_digest, manifest_digest, *(b.digest for b in layers)]:
            target = blobs / digest.removeprefix("sha256:")
            if not target.exists():
                link_or_copy(cache.blob_path(digest), target)
        (staging / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
        (staging / "index.json").write_bytes(canonical_json(index))
        if layout_dir.exists():
            shutil.rmtree(layout_dir)
        staging.rename(layout_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest_digest, manifest_size


def read_manifest(layout_dir: Path) -> tuple[str, dict, dict]:
    """(manifest digest, manifest, config) of the layout's one image."""
    index = json.loads((layout_dir / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    blobs = layout_dir / "blobs" / "sha256"
    manifest = json.loads((blobs / digest.removeprefix("sha256:")).read_text())
    config = json.loads((blobs / manifest["config"]["digest"].removeprefix("sha256:")).read_text())
    return digest, manifest, config
