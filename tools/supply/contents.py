"""What is actually in an OCI layout: its manifest, config and every file of every layer.

The SBOM is made from these entries, not from what the build description says should be there,
so a file the build added without anyone listing it shows up as unexplained.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tools.errors import UserError
from tools.hashing import file_sha256


@dataclass(frozen=True)
class FileEntry:
    """One non-directory entry of a layer tar (a regular file, symlink or hard link)."""

    path: str  # absolute image path, /usr/lib/...
    kind: str  # "file" | "symlink" | "hardlink"
    sha256: str  # of the content (files), of the link target text (links)
    size: int
    target: str = ""  # link target


@dataclass
class Layer:
    digest: str
    created_by: str
    files: dict[str, FileEntry]
    records: dict[str, bytes]  # the packaging records kept whole (METADATA, RECORD, metadata.json)

    def read(self, path: str) -> bytes:
        return self.records[path]


# Files read whole because they say who owns the others; everything else is only hashed.
_RECORD_SUFFIXES = (".dist-info/METADATA", ".dist-info/RECORD", "/metadata.json")
_RECORD_MAX_BYTES = 16 << 20


@dataclass
class ImageContents:
    layout_dir: Path
    digest: str  # manifest digest
    manifest: dict
    config: dict
    layers: list[Layer]


def blob_path(layout_dir: Path, digest: str) -> Path:
    return layout_dir / "blobs" / "sha256" / digest.removeprefix("sha256:")


def _verified_blob(layout_dir: Path, digest: str) -> bytes:
    path = blob_path(layout_dir, digest)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"blob {digest} is missing from the layout", file=layout_dir) from None
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise UserError(f"blob {digest} does not match its digest (tampered or corrupt)", file=path)
    return data


def image_manifest(layout_dir: Path) -> tuple[str, dict, dict]:
    """(digest, manifest, config) of the layout's image, each checked against its digest."""
    try:
        index = json.loads((layout_dir / "index.json").read_text())
    except FileNotFoundError:
        raise UserError("not an OCI layout (no index.json); build the image first", file=layout_dir) from None
    images = [
        m
        for m in index.get("manifests", [])
        if "org.opencontainers.image.ref.name" in m.get("annotations", {})
    ]
    if not images:
        raise UserError("the layout's index names no image (no ref.name annotation)", file=layout_dir)
    digest = images[0]["digest"]
    manifest = json.loads(_verified_blob(layout_dir, digest))
    config = json.loads(_verified_blob(layout_dir, manifest["config"]["digest"]))
    return digest, manifest, config


def _read_layer(path: Path, digest: str) -> tuple[dict[str, FileEntry], dict[str, bytes]]:
    if "sha256:" + file_sha256(path) != digest:
        raise UserError(f"layer {digest} does not match its digest (tampered or corrupt)", file=path)
    files: dict[str, FileEntry] = {}
    records: dict[str, bytes] = {}
    with tarfile.open(path, mode="r|gz") as tar:
        for info in tar:
            name = "/" + info.name.removeprefix("./").lstrip("/")
            if info.isdir():
                continue
            if info.issym() or info.islnk():
                kind = "symlink" if info.issym() else "hardlink"
                text = info.linkname.encode()
                files[name] = FileEntry(name, kind, hashlib.sha256(text).hexdigest(), 0, info.linkname)
            elif info.isreg():
                content = hashlib.sha256()
                stream = tar.extractfile(info)
                keep = name.endswith(_RECORD_SUFFIXES) and info.size <= _RECORD_MAX_BYTES
                kept = []
                for chunk in iter(functools.partial(stream.read, 1 << 20), b""):
                    content.update(chunk)
                    if keep:
                        kept.append(chunk)
                if keep:
                    records[name] = b"".join(kept)
                files[name] = FileEntry(name, "file", content.hexdigest(), info.size)
            else:
                files[name] = FileEntry(name, f"type {info.type!r}", "", 0)
    return files, records


def read_image(layout_dir: Path) -> ImageContents:
    """The image in ``layout_dir`` with every layer read and every blob checked against its digest."""
    digest, manifest, config = image_manifest(layout_dir)
    history = [h for h in config.get("history", []) if not h.get("empty_layer")]
    layers = []
    for position, desc in enumerate(manifest["layers"]):
        created_by = history[position].get("created_by", "") if position < len(history) else ""
        path = blob_path(layout_dir, desc["digest"])
        if not path.exists():
            raise UserError(f"layer {desc['digest']} is missing from the layout", file=layout_dir)
        files, records = _read_layer(path, desc["digest"])
        layers.append(Layer(desc["digest"], created_by, files, records))
    return ImageContents(layout_dir, digest, manifest, config, layers)
