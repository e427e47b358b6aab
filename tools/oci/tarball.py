"""Reproducible gzip'd tar layers: the same files always give the same bytes.

What makes it byte-for-byte stable (the rules rules_oci and distroless follow): entries sorted by
path, PAX format, mtime/uid/gid 0, empty uname/gname, modes normalised (0755 dirs and executables,
0644 other files; sticky directories such as /tmp 1777), and a gzip header with mtime 0 and no
file name. The layer's diff_id (sha256 of the uncompressed tar) is hashed while writing.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tools.hashing import file_sha256

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
# Level 6 (gzip's default): level 9 is ~2x slower for ~1% smaller layers, and compression already
# dominates build time.
GZIP_LEVEL = 6


@dataclass(frozen=True)
class LayerBlob:
    """A written layer: where its bytes are and the identities OCI needs."""

    path: Path
    digest: str  # sha256:<hex> of the gzip bytes (the blob)
    diff_id: str  # sha256:<hex> of the uncompressed tar (the config's rootfs.diff_ids)
    size: int


class _HashingWriter:
    """Passes bytes on to ``sink`` while hashing them (the uncompressed tar -> diff_id)."""

    def __init__(self, sink):
        self.sink = sink
        self.sha = hashlib.sha256()
        self.offset = 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.sink.write(data)
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset


def _normalised_mode(st: os.stat_result) -> int:
    if stat.S_ISDIR(st.st_mode):
        # A sticky directory is a shared scratch dir (/tmp): everyone may write, only owners delete.
        return 0o1777 if st.st_mode & stat.S_ISVTX else 0o755
    return 0o755 if st.st_mode & 0o111 else 0o644


def _entries(root: Path):
    """Every path under root (directories included), sorted, as (arcname, path)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def _tarinfo(arcname: str, path: Path) -> tarfile.TarInfo:
    st = path.lstat()
    info = tarfile.TarInfo(arcname)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
        info.mode = 0o777
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        info.mode = _normalised_mode(st)
    elif stat.S_ISREG(st.st_mode):
        info.type = tarfile.REGTYPE
        info.size = st.st_size
        info.mode = _normalised_mode(st)
    else:
        raise ValueError(f"cannot put {path} in a layer: not a file, directory or symlink")
    return info


def write_layer(root: Path, out: Path) -> LayerBlob:
    """Tars everything under ``root`` (as the image's ``/``) into ``out`` (gzip)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(out, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL) as gz,
    ):
        hashing = _HashingWriter(gz)
        with tarfile.open(fileobj=hashing, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for arcname, path in _entries(root):
                info = _tarinfo(arcname, path)
                if info.isreg():
                    with open(path, "rb") as data:
                        tar.addfile(info, data)
                else:
                    tar.addfile(info)
    return LayerBlob(
        path=out,
        digest=f"sha256:{file_sha256(out)}",
        diff_id=f"sha256:{hashing.sha.hexdigest()}",
        size=out.stat().st_size,
    )
