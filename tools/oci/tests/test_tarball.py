"""The layer writer gives the same bytes for the same files, whatever their mtimes and owners."""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from pathlib import Path

from tools.oci.tarball import write_layer


def _tree(root: Path, mtime: int) -> None:
    (root / "app" / "pkg").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    (root / "app" / "pkg" / "b.py").write_text("B = 2\n")
    (root / "app" / "a.py").write_text("A = 1\n")
    (root / "app" / "run").write_text("#!/bin/sh\n")
    (root / "app" / "run").chmod(0o700)
    (root / "app" / "link").symlink_to("a.py")
    for path in root.rglob("*"):
        os.utime(path, (mtime, mtime), follow_symlinks=False)


def test_same_files_different_mtimes_same_bytes(tmp_path):
    _tree(tmp_path / "one", 1_000_000)
    _tree(tmp_path / "two", 1_700_000_000)
    first = write_layer(tmp_path / "one", tmp_path / "one.tar.gz")
    second = write_layer(tmp_path / "two", tmp_path / "two.tar.gz")
    assert first.digest == second.digest
    assert first.diff_id == second.diff_id
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()


def test_entries_are_sorted_owned_by_root_and_normalised(tmp_path):
    _tree(tmp_path / "root", 1_234_567)
    blob = write_layer(tmp_path / "root", tmp_path / "layer.tar.gz")
    raw = blob.path.read_bytes()
    assert raw[:3] == b"\x1f\x8b\x08" and raw[3] & 0x08 == 0  # gzip, no FNAME field
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime 0
    with tarfile.open(blob.path) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 0)}
    modes = {m.name: m.mode for m in members}
    assert modes["tmp"] == 0o1777
    assert modes["app/run"] == 0o755
    assert modes["app/a.py"] == 0o644
    assert next(m for m in members if m.name == "app/link").linkname == "a.py"
    with gzip.open(blob.path) as tar_bytes:
        assert "sha256:" + hashlib.sha256(tar_bytes.read()).hexdigest() == blob.diff_id
