"""A CycloneDX 1.6 SBOM of a built image, made from the files its layers actually hold.

Every regular file and link of every layer is attributed to a component (a .deb with its sha256
from Debian's metadata, a wheel with the sha256 of the file pip installed, each model artifact file
with its sha256, licence and source, the repo's own code, the few files the builder writes), and
listed in that component's ``evidence.occurrences``: anyone can recheck completeness from the
SBOM and the layout alone (``unexplained_files``). No timestamp and a serial number derived from
the image digest, so two builds of the same inputs give the same SBOM bytes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from tools.errors import UserError
from tools.labels import Label, image_repository
from tools.supply import attribute
from tools.supply.contents import ImageContents, read_image
from tools.supply.owners import Owner, Unexplained
from tools.supply.plan import check_against_history, layer_plan

MEDIA_TYPE = "application/vnd.cyclonedx+json"
SPEC_VERSION = "1.6"
TOOL_NAME = "servectl supply"
_TYPES = {
    "deb": "library",
    "wheel": "library",
    "model": "machine-learning-model",
    "file": "file",
    "application": "application",
    "builder": "file",
}


@dataclass
class Sbom:
    document: dict
    owners: list[Owner]
    unexplained: list[Unexplained]
    digest: str  # the image's
    bases: list[str]  # py_image labels under the image
    locks: list[Path]  # the Debian and pip locks its layers were made from

    def bytes(self) -> bytes:
        return json.dumps(self.document, sort_keys=True, indent=1, ensure_ascii=False).encode() + b"\n"


def attribute_image(label: Label, contents: ImageContents) -> tuple[list[Owner], list[Unexplained], list]:
    """(owners, unexplained files, the layer plans) of the image ``label`` built into ``contents``."""
    plans, _ = layer_plan(label)
    history = [
        h.get("created_by", "") for h in contents.config.get("history", []) if not h.get("empty_layer")
    ]
    check_against_history(plans, history, contents.layout_dir)
    owners: list[Owner] = []
    unexplained: list[Unexplained] = []
    for layer, plan in zip(contents.layers, plans, strict=True):
        if plan.kind == "debian":
            found = attribute.debian_layer(layer, plan)
        elif plan.kind == "pip":
            found = attribute.pip_layer(layer, plan)
        elif plan.kind == "artifacts":
            found = attribute.artifacts_layer(layer, plan)
        else:
            found = attribute.app_layer(layer, plan, str(label))
        owners += found[0]
        unexplained += found[1]
    return owners, unexplained, plans


def _licenses(names: list[str]) -> list[dict]:
    from cyclonedx.spdx import fixup_id, is_expression

    if len(names) == 1 and not fixup_id(names[0]) and is_expression(names[0]):
        return [{"expression": names[0]}]
    found = []
    for name in names:
        spdx_id = fixup_id(name)
        found.append({"license": {"id": spdx_id} if spdx_id else {"name": name}})
    return found


def _component(owner: Owner) -> dict:
    component = {"type": _TYPES[owner.kind], "bom-ref": owner.ref, "name": owner.name}
    if owner.version:
        component["version"] = owner.version
    if owner.purl:
        component["purl"] = owner.purl
    if owner.sha256:
        component["hashes"] = [{"alg": "SHA-256", "content": owner.sha256}]
    if owner.licenses:
        component["licenses"] = _licenses(owner.licenses)
    properties = {**owner.properties, "servectl:layer": owner.layer, "servectl:kind": owner.kind}
    component["properties"] = [{"name": k, "value": v} for k, v in sorted(properties.items()) if v]
    if owner.files:
        component["evidence"] = {"occurrences": [{"location": path} for path in sorted(owner.files)]}
    return component


def make_sbom(label: Label, layout_dir: Path) -> Sbom:
    contents = read_image(layout_dir)
    owners, unexplained, plans = attribute_image(label, contents)
    bases = layer_plan(label)[1]
    repository = image_repository(label)
    image_ref = f"image:{repository}@{contents.digest}"
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": uuid.uuid5(uuid.NAMESPACE_URL, f"oci:{repository}@{contents.digest}").urn,
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": TOOL_NAME}]},
            "component": {
                "type": "container",
                "bom-ref": image_ref,
                "name": repository,
                "version": contents.digest,
                "hashes": [{"alg": "SHA-256", "content": contents.digest.removeprefix("sha256:")}],
                "properties": [
                    {"name": "servectl:label", "value": str(label)},
                    *({"name": "servectl:base", "value": base} for base in bases),
                ],
            },
        },
        "components": [_component(o) for o in owners],
        "dependencies": [{"ref": image_ref, "dependsOn": sorted({o.ref for o in owners})}],
    }
    locks = sorted({p.lock for p in plans if p.lock})
    return Sbom(document, owners, unexplained, contents.digest, bases, locks)


def validate(document: dict) -> None:
    """Validates against the CycloneDX 1.6 JSON schema with cyclonedx-python-lib's own validator."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    if error is not None:
        raise UserError(f"the SBOM is not valid CycloneDX {SPEC_VERSION}: {str(error)[:300]}")


def unexplained_files(document: dict, contents: ImageContents) -> list[str]:
    """Files of the layout no component of ``document`` lists, and listed files the layout lacks."""
    listed: dict[tuple[str, str], int] = {}
    for component in document.get("components", []):
        layer = next(
            (p["value"] for p in component.get("properties", []) if p["name"] == "servectl:layer"), ""
        )
        for occurrence in component.get("evidence", {}).get("occurrences", []):
            key = (layer, occurrence["location"])
            listed[key] = listed.get(key, 0) + 1
    problems = []
    for layer in contents.layers:
        for path in layer.files:
            count = listed.pop((layer.digest, path), 0)
            if count != 1:
                problems.append(f"{path} (layer {layer.digest[:19]}) is listed {count} times")
    problems += [f"{path} is listed but not in layer {layer[:19]}" for layer, path in sorted(listed)]
    return problems


def check_complete(sbom: Sbom, label: Label) -> None:
    if sbom.unexplained:
        first = "; ".join(str(u) for u in sbom.unexplained[:3])
        raise UserError(f"{label}: {len(sbom.unexplained)} files no package or artifact explains: {first}")
