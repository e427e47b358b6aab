"""SBOM and provenance of real images built by the real builder: valid by the formats' own
libraries, complete (every file of every layer attributed), byte-stable across clean builds, and
refusing layouts whose files or blobs were changed."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from packageurl import PackageURL

from tools.errors import UserError
from tools.oci.builder import build_image
from tools.oci.debian import select_layers
from tools.paths import REPO_ROOT, image_digest_file, image_layout_dir
from tools.supply import attest, provenance, sbom
from tools.supply.contents import blob_path, image_manifest, read_image
from tools.supply.tests.conftest import HELLO, HELLO_CHILD, build_in_subprocess, fresh_build_dir
from tools.supply.tests.layouts import copy_layout, put_file, rewrite_layer

pytestmark = pytest.mark.slow
HELLO_LOCK = REPO_ROOT / "tools/oci/tests/testdata/hello/requirements.lock"


@pytest.fixture(scope="module")
def attested(hello):
    return attest.make(HELLO_CHILD)


def _components(document: dict, kind: str) -> dict[str, dict]:
    found = {}
    for component in document["components"]:
        properties = {p["name"]: p["value"] for p in component.get("properties", [])}
        if properties.get("servectl:kind") == kind:
            found[component["name"]] = component
    return found


def test_sbom_is_valid_cyclonedx_16_by_its_own_library(attested):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = attested.sbom_file.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    broken = json.loads(text)
    broken["components"][0]["hashes"] = [{"alg": "SHA-256", "content": "not hex"}]
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(broken)) is not None


def test_every_file_of_every_layer_is_attributed(attested):
    document = json.loads(attested.sbom_file.read_text())
    contents = read_image(image_layout_dir(HELLO_CHILD))
    assert attested.sbom.unexplained == []
    assert sbom.unexplained_files(document, contents) == []
    total = sum(len(layer.files) for layer in contents.layers)
    listed = sum(len(c.get("evidence", {}).get("occurrences", [])) for c in document["components"])
    assert total == listed > 500


def test_debs_and_wheels_carry_the_locks_versions_and_hashes(attested):
    document = json.loads(attested.sbom_file.read_text())
    debs = _components(document, "deb")
    for _, packages in select_layers(
        REPO_ROOT / "third_party/debian/packages.lock.json", ["base", "interpreter"]
    ):
        for pkg in packages:
            assert debs[pkg["name"]]["version"] == pkg["version"]
            assert debs[pkg["name"]]["hashes"] == [{"alg": "SHA-256", "content": pkg["sha256"]}]
            purl = PackageURL.from_string(debs[pkg["name"]]["purl"])
            assert (purl.type, purl.name, purl.version) == ("deb", pkg["name"], pkg["version"])
    wheels = _components(document, "wheel")
    lock = HELLO_LOCK.read_text()
    assert wheels, "the hello lock installs a wheel"
    for name, wheel in wheels.items():
        pinned = re.search(rf"^{re.escape(name)}==(\S+)((?:\s*\\\s*--hash=sha256:\w+)+)", lock, re.M | re.I)
        assert pinned and wheel["version"] == pinned.group(1)
        assert wheel["hashes"][0]["content"] in pinned.group(2)  # the very file pip installed


def test_provenance_is_a_valid_slsa_v1_statement_naming_commit_base_and_deps(attested, hello):
    statement = json.loads(attested.provenance_file.read_text())
    provenance.validate(statement)
    assert statement["subject"][0]["digest"]["sha256"] == hello.digest.removeprefix("sha256:")
    dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert "gitCommit" in dependencies[0]["digest"]
    base_digest = image_digest_file(HELLO).read_text().strip().removeprefix("sha256:")
    assert {
        "uri": "oci:tools/oci/tests/testdata/hello/image",
        "name": str(HELLO),
        "digest": {"sha256": base_digest},
    } in dependencies
    assert any(d["uri"].startswith("pkg:deb/debian/libc6@") for d in dependencies)
    assert any(d["uri"].startswith("pkg:pypi/") for d in dependencies)
    broken = {**statement, "subject": []}
    with pytest.raises(Exception, match="subject"):
        provenance.validate(broken)


def test_sbom_and_provenance_are_byte_stable_across_clean_builds(attested, tmp_path, monkeypatch):
    first = (attested.sbom_file.read_bytes(), attested.provenance_file.read_bytes())
    layouts = {label: image_layout_dir(label) for label in (HELLO, HELLO_CHILD)}
    digests = {label: image_digest_file(label).read_text() for label in layouts}
    # A fresh build dir: no layer cache, no pip report cache, other paths.
    monkeypatch.setenv("CF_BUILD_DIR", str(fresh_build_dir(tmp_path / "build")))
    # 1. The same image bytes give the same SBOM and provenance bytes, whatever the cache state.
    for label, layout in layouts.items():
        copy_layout(layout, image_layout_dir(label))
        image_digest_file(label).write_text(digests[label])
    copied = attest.make(HELLO_CHILD)
    assert (copied.sbom_file.read_bytes(), copied.provenance_file.read_bytes()) == first
    # 2. A clean rebuild in a fresh process (as users build): the same image, the same SBOM.
    for label in layouts:
        shutil.rmtree(image_layout_dir(label))
    build_in_subprocess(HELLO_CHILD)
    rebuilt = build_image(HELLO_CHILD)  # all cached: the subprocess's image
    again = attest.make(HELLO_CHILD)
    old = {layer.digest for layer in read_image(layouts[HELLO_CHILD]).layers}
    changed = [what for what, blob in rebuilt.layers if blob.digest not in old]
    assert rebuilt.digest == attested.digest, f"the image itself is not reproducible: layers {changed}"
    assert (again.sbom_file.read_bytes(), again.provenance_file.read_bytes()) == first


def test_a_file_changed_or_added_in_a_layer_is_unexplained(hello, tmp_path):
    layout = copy_layout(image_layout_dir(HELLO_CHILD), tmp_path / "layout")

    def tamper(members):
        put_file(members, "etc/passwd", b"root:x:0:0::/root:/bin/sh\n")  # base layer
        put_file(members, "usr/bin/backdoor", b"#!/bin/sh\n")

    rewrite_layer(layout, 0, tamper)
    document = sbom.make_sbom(HELLO_CHILD, layout)
    reasons = {u.path: u.reason for u in document.unexplained}
    assert reasons == {
        "/etc/passwd": "differs from what the builder writes",
        "/usr/bin/backdoor": "in no .deb of the lock layer",
    }
    with pytest.raises(Exception, match="2 files no package or artifact explains"):
        sbom.check_complete(document, HELLO_CHILD)


def test_a_corrupted_layer_blob_is_refused(hello, tmp_path):
    layout = copy_layout(image_layout_dir(HELLO_CHILD), tmp_path / "layout")
    _, manifest, _ = image_manifest(layout)
    blob = blob_path(layout, manifest["layers"][-1]["digest"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))  # a copy: the build's own blobs (hard links to the cache) stay intact
    with pytest.raises(UserError, match="does not match its digest"):
        sbom.make_sbom(HELLO_CHILD, layout)
