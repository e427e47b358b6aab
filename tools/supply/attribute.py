"""Assigns every file of every layer to an owner (see owners.py), checking its bytes on the way."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from packageurl import PackageURL

from tools.errors import UserError
from tools.hashing import file_sha256
from tools.oci import debian
from tools.paths import REPO_ROOT, cache_dir
from tools.supply.contents import Layer
from tools.supply.owners import (
    Owner,
    Unexplained,
    compiled_source,
    deb_files,
    installed_wheels,
    model_metadata,
    normalise_name,
)
from tools.supply.plan import LayerPlan

# Files the builder itself writes into the Debian layers (tools/oci/debian.py), with their bytes.
_BUILDER_FILES = {
    "/etc/passwd": debian._PASSWD,
    "/etc/group": debian._GROUP,
    "/etc/nsswitch.conf": debian._NSSWITCH,
    "/usr/bin/python3": "python3.11",  # symlink target
}
# Model weight formats get CycloneDX type machine-learning-model; other artifact files are files.
MODEL_SUFFIXES = (".onnx", ".pt", ".pth", ".safetensors", ".pb", ".h5", ".keras", ".bin", ".gguf", ".tflite")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _claim(owner: Owner, path: str) -> None:
    owner.files.append(path)


def builder_owner(layer: Layer) -> Owner:
    return Owner(
        ref=f"builder:{layer.digest}",
        kind="builder",
        name="servectl image builder files",
        properties={
            "servectl:origin": "written by tools/oci/debian.py (users, groups, nsswitch, python3 link)"
        },
        layer=layer.digest,
    )


def debian_layer(layer: Layer, plan: LayerPlan) -> tuple[list[Owner], list[Unexplained]]:
    owners: list[Owner] = []
    by_path: dict[str, tuple[Owner, str]] = {}
    suite = "debian-12"
    for pkg in plan.packages:
        deb = debian.fetch_deb(pkg, plan.lock)
        listed = deb_files(deb, pkg["name"])
        purl = PackageURL(
            "deb", "debian", pkg["name"], pkg["version"], {"arch": pkg["architecture"], "distro": suite}
        ).to_string()
        owner = Owner(
            ref=f"deb:{pkg['name']}@{pkg['version']}",
            kind="deb",
            name=pkg["name"],
            version=pkg["version"],
            purl=purl,
            sha256=pkg["sha256"],
            licenses=listed.licenses,
            properties={"debian:filename": pkg["filename"], "servectl:lock": _rel(plan.lock)},
            layer=layer.digest,
        )
        owners.append(owner)
        for path, sha in listed.files.items():
            by_path[path] = (owner, sha)
    builder = builder_owner(layer)
    unexplained = []
    for path, entry in sorted(layer.files.items()):
        if path in by_path:
            owner, sha = by_path[path]
            if sha != entry.sha256:
                unexplained.append(Unexplained(layer.digest, path, f"differs from {owner.name}'s .deb"))
            else:
                _claim(owner, path)
        elif path in _BUILDER_FILES:
            if _sha(_BUILDER_FILES[path]) != entry.sha256:
                unexplained.append(Unexplained(layer.digest, path, "differs from what the builder writes"))
            else:
                _claim(builder, path)
        elif (source := compiled_source(path)) and source in by_path:
            _claim(by_path[source][0], path)  # .pyc the builder compiled from the package's .py
        else:
            unexplained.append(Unexplained(layer.digest, path, "in no .deb of the lock layer"))
    return [o for o in [*owners, builder] if o.files or o.kind == "deb"], unexplained


def _rel(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


def wheel_downloads(lock: Path) -> dict[str, dict]:
    """name -> {version, filename, sha256} of the wheel pip picks from ``lock`` for this platform.

    pip's own installation report (``pip install --dry-run --report``), with the same options the
    builder installs with, so it names the file the build installed (pip checks it against the
    lock's hashes). Cached per lock text and interpreter.
    """
    text = lock.read_text()
    key = hashlib.sha256(f"{text}\0{sys.implementation.cache_tag}".encode()).hexdigest()
    cached = cache_dir() / "supply" / f"wheels-{key}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    with tempfile.TemporaryDirectory(prefix="servectl-report-") as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        command += ["--require-hashes", "--only-binary", ":all:", "--no-deps", "--disable-pip-version-check"]
        command += ["--target", str(Path(tmp) / "target"), "--report", str(report), "-r", str(lock)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            tail = " | ".join(result.stderr.strip().splitlines()[-2:])
            raise UserError(f"pip could not resolve the lock's wheels for the SBOM: {tail}", file=lock)
        installs = json.loads(report.read_text())["install"]
    found = {}
    for item in installs:
        info = item["download_info"]
        found[normalise_name(item["metadata"]["name"])] = {
            "version": item["metadata"]["version"],
            "filename": info["url"].rsplit("/", 1)[-1],
            "sha256": info.get("archive_info", {}).get("hashes", {}).get("sha256", ""),
        }
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    return found


def pip_layer(layer: Layer, plan: LayerPlan) -> tuple[list[Owner], list[Unexplained]]:
    downloads = wheel_downloads(plan.lock)
    owners, by_path = [], {}
    unexplained = []
    for wheel in installed_wheels(layer.files, layer.read):
        picked = downloads.get(normalise_name(wheel.name), {})
        if picked.get("version") != wheel.version:
            unexplained.append(
                Unexplained(
                    layer.digest,
                    wheel.dist_info,
                    f"{wheel.name} {wheel.version} is not what the lock installs",
                )
            )
        owner = Owner(
            ref=f"pypi:{normalise_name(wheel.name)}@{wheel.version}",
            kind="wheel",
            name=wheel.name,
            version=wheel.version,
            purl=PackageURL("pypi", None, normalise_name(wheel.name), wheel.version).to_string(),
            sha256=picked.get("sha256", ""),
            licenses=wheel.licenses,
            properties={"servectl:wheel": picked.get("filename", ""), "servectl:lock": _rel(plan.lock)},
            layer=layer.digest,
        )
        owners.append(owner)
        for path, sha in wheel.record.items():
            by_path[path] = (owner, sha)
    for path, entry in sorted(layer.files.items()):
        if path in by_path:
            owner, sha = by_path[path]
            recompiled = (source := compiled_source(path)) and by_path.get(source, (None,))[0] is owner
            if sha and sha != entry.sha256 and not recompiled:  # a shipped .pyc the builder recompiled
                unexplained.append(Unexplained(layer.digest, path, f"differs from {owner.name}'s RECORD"))
            else:
                _claim(owner, path)
        elif (source := compiled_source(path)) and source in by_path:
            _claim(by_path[source][0], path)
        else:
            unexplained.append(Unexplained(layer.digest, path, "in no installed wheel's RECORD"))
    return owners, unexplained


def artifacts_layer(layer: Layer, plan: LayerPlan) -> tuple[list[Owner], list[Unexplained]]:
    """One component per artifact file, with the licence and source its metadata.json declares."""
    metadata = model_metadata(layer.files, plan.destination, layer.read)
    declared = metadata.get("files", {}) if isinstance(metadata.get("files"), dict) else {}
    licence = metadata.get("license")
    source = metadata.get("source") if isinstance(metadata.get("source"), dict) else {}
    owners, unexplained = [], []
    prefix = plan.destination + "/"
    for path, entry in sorted(layer.files.items()):
        if not path.startswith(prefix):
            unexplained.append(
                Unexplained(layer.digest, path, f"outside the artifact destination {plan.destination}")
            )
            continue
        relative = path.removeprefix(prefix)
        if relative in declared and declared[relative] != entry.sha256:
            unexplained.append(
                Unexplained(layer.digest, path, "differs from the sha256 its metadata.json declares")
            )
            continue
        kind = "model" if path.endswith(MODEL_SUFFIXES) else "file"
        properties = {"servectl:artifact": str(plan.artifact)}
        properties.update({f"servectl:source.{k}": str(v) for k, v in sorted(source.items())})
        owners.append(
            Owner(
                ref=f"artifact:{path}",
                kind=kind,
                name=path,
                version=entry.sha256[:12],
                sha256=entry.sha256,
                # The declared licence is the weights'; the other files (metadata) carry none.
                licenses=[licence] if isinstance(licence, str) and licence and kind == "model" else [],
                properties=properties,
                files=[path],
                layer=layer.digest,
            )
        )
    return owners, unexplained


def app_layer(layer: Layer, plan: LayerPlan, image: str) -> tuple[list[Owner], list[Unexplained]]:
    """The repo's own files (app code, placed files): each must equal the repo file it came from."""
    owner = Owner(
        ref=f"app:{plan.kind}:{layer.digest}",
        kind="application",
        name=f"{image} {plan.kind}",
        properties={"servectl:origin": "this repository"},
        layer=layer.digest,
    )
    unexplained = []
    for path, entry in sorted(layer.files.items()):
        source = plan.placed.get(path)
        if source is None:
            unexplained.append(Unexplained(layer.digest, path, "not a file the description places"))
        elif file_sha256(source) != entry.sha256:
            unexplained.append(Unexplained(layer.digest, path, f"differs from {_rel(source)}"))
        else:
            _claim(owner, path)
    digest = hashlib.sha256("".join(f"{p}\0{layer.files[p].sha256}\n" for p in owner.files).encode())
    owner.sha256 = digest.hexdigest()  # over the sorted (path, sha256) list: one value for the code
    return [owner], unexplained
