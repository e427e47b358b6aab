"""Image signatures that Debian's podman/skopeo/CRI-O verify on pull: GPG "simple signing".

Debian builds containers/image with sigstore disabled ("Debian-local change: sigstore disabled"),
so the cosign-format signature (signing.py) cannot be checked on pull there. skopeo itself signs
the image with the environment's GPG key while copying it to the registry (``skopeo copy
--sign-by``); the signature is kept as an OCI 1.1 referrer of the image (pushed beside it), and
``write_lookaside`` lays it out where a node's registries.d ``lookaside`` points, so that a
policy.json ``signedBy`` requirement (keyType GPGKeys, keyPath) is enforced by containers/image on
every pull.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from tools.errors import UserError
from tools.supply import referrers

SIGNATURE_ARTIFACT_TYPE = "application/vnd.containers.signature.v1+gpg"
SIGNATURE_MEDIA_TYPE = "application/vnd.containers.simple-signing.signature.v1"


def _registries_d(directory: Path, registry: str, lookaside: Path) -> Path:
    (directory / "servectl.yaml").write_text(
        f"docker:\n  {registry}:\n    lookaside: file://{lookaside}\n    lookaside-staging: file://{lookaside}\n"
    )
    return directory


def sign_with_skopeo(
    layout_dir: Path,
    registry: str,
    repository: str,
    digest: str,
    fingerprint: str,
    *,
    tls_verify: bool = True,
) -> bytes:
    """Copies the layout's image to ``registry/repository`` with skopeo, GPG-signed by
    ``fingerprint`` (from GNUPGHOME), attaches the signature as a referrer and returns it."""
    with tempfile.TemporaryDirectory(prefix="servectl-gpg-") as tmp:
        lookaside = Path(tmp) / "lookaside"
        registries_d = _registries_d(Path(tmp), registry, lookaside)
        destination = f"docker://{registry}/{repository}:signed-{digest.removeprefix('sha256:')[:12]}"
        command = ["skopeo", "--registries.d", str(registries_d), "copy", "--preserve-digests"]
        command += ["--sign-by", fingerprint, f"--dest-tls-verify={str(tls_verify).lower()}"]
        result = subprocess.run(
            [*command, f"oci:{layout_dir}:latest", destination],
            capture_output=True,
            text=True,
            env=os.environ,
        )
        if result.returncode != 0:
            tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"skopeo could not sign and push {repository}: {tail}")
        signature = lookaside / f"{repository}@{digest.replace(':', '=')}" / "signature-1"
        if not signature.exists():
            raise UserError(f"skopeo wrote no signature for {digest} (lookaside {lookaside})")
        data = signature.read_bytes()
    referrers.attach(
        layout_dir,
        SIGNATURE_ARTIFACT_TYPE,
        SIGNATURE_MEDIA_TYPE,
        data,
        {referrers.IDENTITY_ANNOTATION: f"{registry}/{repository}"},
    )
    return data


def write_lookaside(lookaside: Path, repository: str, digest: str, signatures: list[bytes]) -> None:
    """The layout containers/image reads: ``<repository>@sha256=<hex>/signature-<n>``."""
    directory = lookaside / f"{repository}@{digest.replace(':', '=')}"
    directory.mkdir(parents=True, exist_ok=True)
    for number, data in enumerate(signatures, start=1):
        (directory / f"signature-{number}").write_bytes(data)
