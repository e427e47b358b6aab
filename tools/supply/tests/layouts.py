"""Test helpers that change an OCI layout the way an attacker would: a layer rewritten with other
files, and every digest above it (config diff_id, manifest, index) made consistent again."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

from tools.oci.layout import canonical_json
from tools.supply.contents import blob_path, image_manifest


def _store(layout: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blob_path(layout, digest).write_bytes(data)
    return digest, len(data)


def copy_layout(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def rewrite_layer(layout: Path, position: int, change) -> None:
    """``change(members: dict[name, (TarInfo, bytes|None)])`` edits the layer's entries in place."""
    _, manifest, config = image_manifest(layout)
    layer = manifest["layers"][position]
    members = {}
    with tarfile.open(blob_path(layout, layer["digest"]), "r:gz") as tar:
        for info in tar:
            members[info.name] = (info, tar.extractfile(info).read() if info.isreg() else None)
    change(members)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            info, data = members[name]
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    tar_bytes = raw.getvalue()
    layer["digest"], layer["size"] = _store(layout, gzip.compress(tar_bytes, mtime=0))
    config["rootfs"]["diff_ids"][position] = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    manifest["config"]["digest"], manifest["config"]["size"] = _store(layout, canonical_json(config))
    digest, size = _store(layout, canonical_json(manifest))
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0].update(digest=digest, size=size)
    (layout / "index.json").write_bytes(canonical_json(index))


def put_file(members: dict, name: str, data: bytes) -> None:
    """Adds or replaces a regular file in a layer's members."""
    info = members[name][0] if name in members else tarfile.TarInfo(name)
    info.mode = 0o644
    members[name] = (info, data)
