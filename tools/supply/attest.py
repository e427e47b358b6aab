"""Makes an image's SBOM and provenance, signs them (and the image) and attaches them to its layout.

``python -m tools.supply.attest //models/yolo:image [--env prod]``. Without a signing key the
SBOM and provenance are attached unsigned (local builds); with the environment's key they are
DSSE envelopes, and the image gets a cosign-format signature naming ``registry/repository``.
The SBOM and provenance are also written beside the digest file for people:
``.build/images/<package>/<name>.sbom.cdx.json`` and ``.provenance.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.errors import UserError
from tools.labels import Label, image_repository
from tools.paths import image_digest_file, image_layout_dir
from tools.supply import provenance, referrers, sbom, signing
from tools.supply.contents import image_manifest

SBOM_PREDICATE = "https://cyclonedx.org/bom"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


@dataclass
class Attested:
    label: Label
    digest: str
    sbom: sbom.Sbom
    sbom_file: Path
    provenance_file: Path


def output_file(label: Label, suffix: str) -> Path:
    digest_file = image_digest_file(label)
    return digest_file.with_name(f"{label.name}{suffix}")


def statement(subject: str, digest: str, predicate_type: str, predicate: dict) -> bytes:
    """An in-toto Statement about the image (how a signed SBOM names what it describes)."""
    document = {
        "_type": provenance.STATEMENT_TYPE,
        "subject": [{"name": subject, "digest": {"sha256": digest.removeprefix("sha256:")}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def make(label: Label) -> Attested:
    """SBOM (complete and valid, or an error) and provenance for the image ``build`` last wrote."""
    layout_dir = image_layout_dir(label)
    document = sbom.make_sbom(label, layout_dir)
    sbom.check_complete(document, label)
    sbom.validate(document.document)
    sbom_bytes = document.bytes()
    statement_ = provenance.make_provenance(
        label,
        document.digest,
        document.owners,
        document.bases,
        document.locks,
        hashlib.sha256(sbom_bytes).hexdigest(),
    )
    provenance.validate(statement_)
    sbom_file, provenance_file = output_file(label, ".sbom.cdx.json"), output_file(label, ".provenance.json")
    sbom_file.write_bytes(sbom_bytes)
    provenance_file.write_bytes(json.dumps(statement_, sort_keys=True, indent=1).encode() + b"\n")
    return Attested(label, document.digest, document, sbom_file, provenance_file)


def attach(attested: Attested, key=None, identities: tuple[str, ...] = ()) -> None:
    """Attaches SBOM and provenance (DSSE-signed when ``key`` is given) and image signatures."""
    layout_dir = image_layout_dir(attested.label)
    if image_manifest(layout_dir)[0] != attested.digest:
        raise UserError(f"{attested.label} was rebuilt while it was being attested; attest it again")
    sbom_bytes = attested.sbom_file.read_bytes()
    provenance_bytes = attested.provenance_file.read_bytes()
    subject = image_repository(attested.label)
    if key is None:
        referrers.attach(layout_dir, sbom.MEDIA_TYPE, sbom.MEDIA_TYPE, sbom_bytes)
        referrers.attach(layout_dir, provenance.MEDIA_TYPE, provenance.MEDIA_TYPE, provenance_bytes)
        return
    sbom_statement = statement(subject, attested.digest, SBOM_PREDICATE, json.loads(sbom_bytes))
    referrers.attach(
        layout_dir,
        sbom.MEDIA_TYPE,
        signing.DSSE_MEDIA_TYPE,
        signing.dsse_envelope(key, IN_TOTO_PAYLOAD_TYPE, sbom_statement),
    )
    provenance_statement = json.dumps(
        json.loads(provenance_bytes), sort_keys=True, separators=(",", ":")
    ).encode()
    referrers.attach(
        layout_dir,
        provenance.MEDIA_TYPE,
        signing.DSSE_MEDIA_TYPE,
        signing.dsse_envelope(key, IN_TOTO_PAYLOAD_TYPE, provenance_statement),
    )
    for identity in identities:
        payload = signing.simple_signing_payload(identity, attested.digest)
        referrers.attach(
            layout_dir,
            referrers.SIGNATURE_ARTIFACT_TYPE,
            signing.SIMPLE_SIGNING_MEDIA_TYPE,
            payload,
            {
                signing.SIGNATURE_ANNOTATION: signing.sign(key, payload),
                referrers.IDENTITY_ANNOTATION: identity,
            },
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.supply.attest", description=__doc__.splitlines()[0]
    )
    parser.add_argument("image", help="an image label, e.g. //models/yolo:image (built first)")
    parser.add_argument("--env", help="sign with this environment's key (platform/supply-chain.yaml)")
    args = parser.parse_args(argv)
    try:
        from tools.supply import policy

        label = Label.parse(args.image)
        attested = make(label)
        key, identities = policy.signing_material(args.env, label) if args.env else (None, ())
        attach(attested, key, identities)
        print(f"{label}: {attested.digest}: SBOM {attested.sbom_file}, provenance {attested.provenance_file}")
        for line in policy.licence_report(attested.sbom.document):
            print(f"  {line}")
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
