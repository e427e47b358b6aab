"""SLSA v1 provenance of a built image: an in-toto Statement whose subject is the image manifest.

What it records (https://slsa.dev/provenance/v1): the build type and its external parameters (the
Bazel label, stamping), the builder (servectl, identified by the sha256 of its own code), and
every resolved dependency with a digest: the git commit, the locks, each .deb and wheel, each
model artifact's upstream source, each py_image base by its manifest digest. Dependencies come
from the SBOM's components (what the layers hold), so the two never disagree. Byte-stable: no
timestamps, no invocation id.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from tools.labels import Label, image_repository
from tools.paths import REPO_ROOT, image_digest_file
from tools.supply.owners import Owner

MEDIA_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:creativeflow:servectl:py_image:v1"
BUILDER_ID = "urn:creativeflow:servectl"
# The builder's identity: its own sources, hashed (a change to how images are made changes it).
_BUILDER_SOURCES = ("tools/oci", "tools/supply", "tools/artifacts")


def builder_version(root: Path = REPO_ROOT) -> str:
    sha = hashlib.sha256()
    for top in _BUILDER_SOURCES:
        for path in sorted((root / top).rglob("*.py")):
            if "tests" in path.relative_to(root).parts:
                continue
            sha.update(f"{path.relative_to(root).as_posix()}\0".encode())
            sha.update(path.read_bytes())
    return sha.hexdigest()


def git_source(root: Path = REPO_ROOT) -> dict:
    """The commit the build came from; ``dirty`` when the tree had uncommitted changes."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    descriptor = {"uri": "git+" + (git("config", "--get", "remote.origin.url") or "creativeflow")}
    if commit:
        descriptor["digest"] = {"gitCommit": commit}
    if git("status", "--porcelain", "--untracked-files=no"):
        descriptor["annotations"] = {"dirty": True}
    return descriptor


def _dependency(owner: Owner) -> dict | None:
    if owner.kind in ("deb", "wheel") and owner.sha256:
        name = owner.properties.get("debian:filename") or owner.properties.get("servectl:wheel") or owner.name
        return {"uri": owner.purl, "name": name.rsplit("/", 1)[-1], "digest": {"sha256": owner.sha256}}
    if owner.kind in ("model", "file") and owner.properties.get("servectl:source.wheel_sha256"):
        return {
            "uri": "pkg:pypi/" + owner.properties["servectl:source.package"].replace("==", "@"),
            "name": owner.properties.get("servectl:source.file", ""),
            "digest": {"sha256": owner.properties["servectl:source.wheel_sha256"]},
        }
    return None


def _file_dependency(path: Path) -> dict:
    text = path.read_bytes()
    return {
        "uri": f"git+creativeflow#{path.relative_to(REPO_ROOT).as_posix()}",
        "digest": {"sha256": hashlib.sha256(text).hexdigest()},
    }


def _base_dependency(base: str) -> dict:
    label = Label.parse(base)
    digest = image_digest_file(label).read_text().strip()
    return {
        "uri": f"oci:{image_repository(label)}",
        "name": base,
        "digest": {"sha256": digest.removeprefix("sha256:")},
    }


def make_provenance(
    label: Label, digest: str, owners: list[Owner], bases: list[str], locks: list[Path], sbom_sha256: str
) -> dict:
    seen, dependencies = set(), [git_source()]
    for lock in sorted(set(locks)):
        dependencies.append(_file_dependency(lock))
    for base in bases:
        dependencies.append(_base_dependency(base))
    for owner in owners:
        dependency = _dependency(owner)
        if dependency and json.dumps(dependency, sort_keys=True) not in seen:
            seen.add(json.dumps(dependency, sort_keys=True))
            dependencies.append(dependency)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": image_repository(label), "digest": {"sha256": digest.removeprefix("sha256:")}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"target": str(label)},
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"servectl": builder_version()}},
                "byproducts": [
                    {
                        "name": "sbom.cdx.json",
                        "mediaType": "application/vnd.cyclonedx+json",
                        "digest": {"sha256": sbom_sha256},
                    }
                ],
            },
        },
    }


def validate(statement: dict) -> None:
    """Checks the statement with the in-toto attestation framework's own bindings (the Statement
    wrapper's validate(), and the SLSA v1 Provenance proto for the predicate's shape)."""
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    from tools.errors import UserError

    try:
        parsed = json_format.ParseDict(statement, statement_pb2.Statement())
        Statement.copy_from_pb(parsed).validate()
        json_format.ParseDict(statement["predicate"], provenance_pb2.Provenance())
    except (json_format.ParseError, ValueError, KeyError) as error:
        raise UserError(f"the provenance is not a valid in-toto SLSA v1 statement: {error}") from None
    if parsed.predicate_type != PREDICATE_TYPE:
        raise UserError(f"the provenance's predicateType is {parsed.predicate_type!r}, not {PREDICATE_TYPE}")
