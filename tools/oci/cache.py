"""A content-addressed layer cache, so an unchanged layer is never rebuilt.

``cache_dir()/blobs/sha256/<hex>`` holds blobs by their own digest (shared by every image and
layout); ``cache_dir()/layers/<key>.json`` maps a layer's input key (sha256 of everything that
decides its bytes: the locked package list, the files and their contents, the builder's own code)
to the blob it produced. Entries are written atomically, so an interrupted build leaves no half
entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from tools.oci.tarball import LayerBlob, write_layer
from tools.paths import REPO_ROOT, cache_dir, link_or_copy


def blob_path(digest: str) -> Path:
    return cache_dir() / "blobs" / "sha256" / digest.removeprefix("sha256:")


def _entry_path(key: str) -> Path:
    return cache_dir() / "layers" / f"{key}.json"


def input_key(*parts: object) -> str:
    """sha256 over canonical JSON of the inputs (strings, numbers, lists, dicts)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def cached_layer(key: str) -> LayerBlob | None:
    entry = _entry_path(key)
    if not entry.exists():
        return None
    data = json.loads(entry.read_text())
    path = blob_path(data["digest"])
    if not path.exists():
        return None
    return LayerBlob(path=path, digest=data["digest"], diff_id=data["diff_id"], size=data["size"])


def store_layer(key: str, root: Path) -> LayerBlob:
    """Tars ``root`` into the blob store and records it under ``key``."""
    blobs = cache_dir() / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=blobs, prefix=".layer-")
    os.close(fd)
    try:
        written = write_layer(root, Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; blobs are public content
        final = blob_path(written.digest)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    blob = LayerBlob(path=final, digest=written.digest, diff_id=written.diff_id, size=written.size)
    write_json_atomic(_entry_path(key), {"digest": blob.digest, "diff_id": blob.diff_id, "size": blob.size})
    return blob


def store_bytes(data: bytes) -> tuple[str, int]:
    """Stores a small blob (config, manifest); returns (digest, size)."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return digest, len(data)


def write_json_atomic(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, sort_keys=True, indent=2) + "\n")
    os.replace(tmp, path)


def clear_layers() -> None:
    """Forgets every cached layer (blobs stay until overwritten): forces the next build to redo all."""
    shutil.rmtree(cache_dir() / "layers", ignore_errors=True)


def seed_downloads(build_dir: Path, source: Path | None = None) -> Path:
    """Gives a fresh ``build_dir`` the verified downloads of ``source`` (default: the checkout's
    .build), and nothing else: the pinned .debs are named by their sha256 and checked against the
    lock again when used, while every build output (layers, layouts, digests) starts empty. Hard
    links on one filesystem, copies across (pytest's tmp dir is a tmpfs on most distributions)."""
    debs = (source or REPO_ROOT / ".build") / "cache" / "debs"
    if debs.is_dir():
        shutil.copytree(debs, build_dir / "cache" / "debs", copy_function=link_or_copy, dirs_exist_ok=True)
    return build_dir
