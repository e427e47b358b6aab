"""The repository rule behind Bazel's Debian base, run on the real lock against Debian's mirror.

tools/oci/private/debian_packages.bzl is evaluated with starlark-pyo3 and its implementation is
called with a repository context whose `download` does what Bazel's does: fetch the first URL that
answers and refuse a file whose sha256 is not the one given. So every URL the rule computes from
packages.lock.json is fetched from deb.debian.org and checked against the lock's sha256, and the
BUILD file it writes is read back. (Needs the network to Debian's mirror, like `./dev setup`.)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
import starlark as sl

from tools.paths import REPO_ROOT

RULE = REPO_ROOT / "tools/oci/private/debian_packages.bzl"
LOCK = REPO_ROOT / "third_party/debian/packages.lock.json"

# What the rule's .bzl needs from Bazel, and a call of its implementation with a context.
_PRELUDE = """
def _attr(**kwargs):
    return None

attr = struct(label = _attr, string_list = _attr)

def repository_rule(implementation, attrs = {}, doc = None):
    return struct(implementation = implementation, attrs = attrs)
"""
_CALL = """
debian_packages.implementation(struct(
    attr = struct(lock = "//third_party/debian:packages.lock.json", mirrors = [], security_mirrors = []),
    read = _read,
    download = _download,
    file = _file,
))
"""


class RepositoryContext:
    """Bazel's repository_ctx as far as the rule uses it, into `directory`."""

    def __init__(self, directory: Path, client: httpx.Client):
        self.directory, self.client = directory, client
        self.downloads: list[tuple[list[str], str]] = []

    def read(self, label: str) -> str:
        assert label == "//third_party/debian:packages.lock.json"
        return LOCK.read_text(encoding="utf-8")

    def download(self, url: list[str], output: str, sha256: str) -> None:
        target = self.directory / output
        target.parent.mkdir(parents=True, exist_ok=True)
        errors = []
        for candidate in url:
            digest = hashlib.sha256()
            with self.client.stream("GET", candidate) as response, target.open("wb") as out:
                if response.status_code != 200:
                    errors.append(f"{candidate}: HTTP {response.status_code}")
                    continue
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha256:
                raise AssertionError(f"{candidate}: sha256 {digest.hexdigest()}, expected {sha256}")
            self.downloads.append((url, output))
            return
        raise AssertionError(f"no URL of {output} answered: {errors}")

    def file(self, path: str, content: str) -> None:
        (self.directory / path).write_text(content, encoding="utf-8")


def run_rule(context: RepositoryContext) -> None:
    prelude = sl.Module()
    globals_ = sl.Globals.extended_by([sl.LibraryExtension.StructType, sl.LibraryExtension.Json])
    sl.eval(prelude, sl.parse("prelude.bzl", _PRELUDE, dialect=sl.Dialect.extended()), globals_)
    rule = sl.Module()
    source = 'load("prelude.bzl", "attr", "repository_rule")\n' + RULE.read_text(encoding="utf-8")
    frozen_prelude = prelude.freeze()
    sl.eval(
        rule,
        sl.parse(str(RULE), source, dialect=sl.Dialect.extended()),
        globals_,
        sl.FileLoader(lambda _label: frozen_prelude),
    )
    frozen_rule = rule.freeze()
    call = sl.Module()
    call.add_callable("_read", context.read)
    call.add_callable("_download", context.download)
    call.add_callable("_file", context.file)
    source = 'load("rule.bzl", "debian_packages")\n' + _CALL
    sl.eval(
        call,
        sl.parse("call.bzl", source, dialect=sl.Dialect.extended()),
        globals_,
        sl.FileLoader(lambda _label: frozen_rule),
    )


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    context = RepositoryContext(tmp_path_factory.mktemp("debian_bookworm"), httpx.Client(timeout=120))
    run_rule(context)
    return context


def test_every_pin_is_fetched_from_debians_mirror_with_its_sha256(fetched):
    lock = json.loads(LOCK.read_text(encoding="utf-8"))
    pins = [pkg for packages in lock["layers"].values() for pkg in packages]
    assert len(fetched.downloads) == len(pins)
    for pkg, (urls, output) in zip(pins, fetched.downloads, strict=True):
        assert output == f"debs/{pkg['sha256']}.deb"
        archive = "debian-security" if pkg["filename"].startswith("pool/updates/") else "debian"
        assert urls == [f"https://deb.debian.org/{archive}/{pkg['filename']}"]
        assert (fetched.directory / output).stat().st_size == pkg["size"]


def test_build_file_has_one_filegroup_per_lock_layer_in_lock_order(fetched):
    lock = json.loads(LOCK.read_text(encoding="utf-8"))
    recorded: dict[str, list[str]] = {}
    build = sl.Module()
    build.add_callable("package", lambda **kwargs: None)
    build.add_callable("filegroup", lambda name, srcs: recorded.__setitem__(name, srcs))
    text = (fetched.directory / "BUILD.bazel").read_text(encoding="utf-8")
    sl.eval(build, sl.parse("BUILD.bazel", text, dialect=sl.Dialect.standard()), sl.Globals.standard())
    assert recorded == {
        layer: [f"debs/{pkg['sha256']}.deb" for pkg in packages] for layer, packages in lock["layers"].items()
    }
    for srcs in recorded.values():
        assert all((fetched.directory / src).is_file() for src in srcs)
