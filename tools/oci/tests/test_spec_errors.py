"""Bad image descriptions are one-line UserErrors naming the BUILD file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.errors import UserError
from tools.oci.builder import build_image
from tools.oci.debian import fetch_deb

pytestmark = pytest.mark.container  # also run in the pristine root (./dev rehearse)

LOAD = 'load("//tools/oci:defs.bzl", "py_image")\n'
GOOD = (
    LOAD
    + """
py_image(
    name = "image",
    base = "//third_party/debian:python311",
    entrypoint = ["python3"],
    {extra}
)
"""
)


def _package(root: Path, extra: str) -> str:
    pkg = root / "bad"
    pkg.mkdir(exist_ok=True)
    (pkg / "BUILD.bazel").write_text(GOOD.format(extra=extra))
    return "//bad:image"


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ('user = "0:0",', "user", "non-root"),
        ('exposed_ports = ["http"],', "exposed_ports", "PORT"),
        ('artifacts = {"models": "//x:y"},', "artifacts", "absolute"),
        ('colour = "blue",', "colour", "Extra inputs"),
        ('srcs = ["missing.py"],', None, "no such target or file"),
    ],
)
def test_bad_attributes(tmp_path, extra, field, message):
    label = _package(tmp_path, extra)
    with pytest.raises(UserError, match=message) as caught:
        build_image(label, root=tmp_path)
    if field:
        assert caught.value.field == field
    assert caught.value.file.endswith("BUILD.bazel")


def test_a_base_pulled_by_digest_says_only_bazel_builds_it(tmp_path):
    pkg = tmp_path / "remote"
    pkg.mkdir()
    (pkg / "BUILD.bazel").write_text(
        LOAD + 'py_image(name = "image", base = "@tensorflow_serving_gpu", entrypoint = ["x"])'
    )
    with pytest.raises(UserError, match="only Bazel can build //remote:image") as caught:
        build_image("//remote:image", root=tmp_path)
    assert caught.value.field == "base"


def test_a_deb_that_does_not_match_the_lock_is_refused(build_dir, tmp_path):
    real = json.loads(Path("third_party/debian/packages.lock.json").read_text())
    smallest = min((p for layer in real["layers"].values() for p in layer), key=lambda p: p["size"])
    pkg = dict(smallest, sha256="0" * 64)  # a real download, a wrong expected hash
    with pytest.raises(UserError, match="sha256 mismatch") as caught:
        fetch_deb(pkg, tmp_path / "packages.lock.json")
    assert caught.value.field == pkg["name"]
