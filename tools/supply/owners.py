"""Who owns each file of an image: a .deb, a wheel, a model artifact, the repo's code, the builder.

Each layer kind has an owner finder that reads the owners' own records (a .deb's data tar, a
wheel's RECORD, an artifact's metadata.json, the repo file at the same path) and checks the
file's sha256 against them. A file nobody claims, or whose bytes differ from its owner's record,
is unexplained: the SBOM refuses to call such an image complete.
"""

from __future__ import annotations

import base64
import csv
import email.parser
import io
import json
import posixpath
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from tools.supply.contents import FileEntry


@dataclass
class Owner:
    """One SBOM component and the image files it explains."""

    ref: str  # bom-ref, stable across builds
    kind: str  # deb | wheel | model | application | builder
    name: str
    version: str = ""
    purl: str = ""
    sha256: str = ""  # of the package file itself (.deb, .whl) or the artifact file
    licenses: list[str] = field(default_factory=list)  # SPDX ids/expressions or free names
    properties: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # image paths, one layer
    layer: str = ""


@dataclass
class Unexplained:
    layer: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} (layer {self.layer[:19]}): {self.reason}"


def compiled_source(path: str) -> str | None:
    """``/x/__pycache__/m.cpython-311.pyc`` -> ``/x/m.py``: a .pyc belongs to its source's owner."""
    directory, name = posixpath.split(path)
    if posixpath.basename(directory) != "__pycache__" or not name.endswith(".pyc"):
        return None
    return posixpath.join(posixpath.dirname(directory), name.split(".", 1)[0] + ".py")


# -- Debian packages ---------------------------------------------------------------------------


@dataclass
class DebFiles:
    files: dict[str, str]  # image path -> sha256 (links: sha256 of the target text)
    licenses: list[str]


def _dep5_licenses(text: str) -> list[str]:
    """The ``License:`` short names of a machine-readable debian/copyright (DEP-5)."""
    if not text.startswith("Format:"):
        return []
    found = []
    for line in text.splitlines():
        if line.startswith("License:"):
            name = line.removeprefix("License:").strip()
            if name and name not in found:
                found.append(name)
    return found


def deb_files(deb: Path, package: str) -> DebFiles:
    """Every non-directory entry of a .deb's data, by image path, and its copyright licences."""
    import hashlib

    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    files: dict[str, str] = {}
    licenses: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for info in tar:
            path = "/" + info.name.removeprefix("./").lstrip("/")
            if info.isdir():
                continue
            if info.issym() or info.islnk():
                files[path] = hashlib.sha256(info.linkname.encode()).hexdigest()
                continue
            content = tar.extractfile(info).read()
            files[path] = hashlib.sha256(content).hexdigest()
            if path == f"/usr/share/doc/{package}/copyright":
                licenses = _dep5_licenses(content.decode("utf-8", "replace"))
    return DebFiles(files, licenses)


# -- wheels ------------------------------------------------------------------------------------


def _record_sha256(text: str) -> str:
    algorithm, _, value = text.partition("=")
    if algorithm != "sha256" or not value:
        return ""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()


def wheel_licenses(metadata: str) -> list[str]:
    """PEP 639 License-Expression, else a one-line License field, else the trove classifiers."""
    message = email.parser.Parser().parsestr(metadata, headersonly=True)
    if message.get("License-Expression"):
        return [message["License-Expression"].strip()]
    license_field = (message.get("License") or "").strip()
    if license_field and "\n" not in license_field and len(license_field) <= 80:
        return [license_field]
    classifiers = [
        c.split("::")[-1].strip() for c in message.get_all("Classifier") or [] if c.startswith("License ::")
    ]
    return [c for c in classifiers if c != "OSI Approved"]


@dataclass
class InstalledWheel:
    name: str
    version: str
    dist_info: str  # image path of the .dist-info directory
    licenses: list[str]
    record: dict[str, str]  # image path -> sha256 ("" where RECORD gives none)


def installed_wheels(files: dict[str, FileEntry], read) -> list[InstalledWheel]:
    """The wheels installed in a layer, from their own METADATA and RECORD (``read(path)`` -> bytes)."""
    found = []
    for path in sorted(files):
        if not (path.endswith(".dist-info/METADATA") and posixpath.basename(posixpath.dirname(path))):
            continue
        dist_info = posixpath.dirname(path)
        site = posixpath.dirname(dist_info)
        metadata = read(path).decode("utf-8", "replace")
        message = email.parser.Parser().parsestr(metadata, headersonly=True)
        record: dict[str, str] = {}
        record_path = f"{dist_info}/RECORD"
        if record_path in files:
            for row in csv.reader(io.StringIO(read(record_path).decode())):
                if row:
                    record[posixpath.normpath(posixpath.join(site, row[0]))] = _record_sha256(
                        row[1] if len(row) > 1 else ""
                    )
        found.append(
            InstalledWheel(message["Name"], message["Version"], dist_info, wheel_licenses(metadata), record)
        )
    return found


def normalise_name(name: str) -> str:
    """PEP 503: ``Pillow`` and ``pillow``, ``typing_extensions`` and ``typing-extensions`` are one."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def model_metadata(files: dict[str, FileEntry], destination: str, read) -> dict:
    """An artifact's own ``metadata.json`` (source, licence, file hashes), if it ships one."""
    path = f"{destination.rstrip('/')}/metadata.json"
    if path not in files:
        return {}
    try:
        return json.loads(read(path))
    except ValueError:
        return {}
