"""Model weights signed with OpenSSF model-signing (PyPI ``model-signing``).

``sign_model(model_dir, key_file, passphrase)`` writes ``model.sig`` (a sigstore bundle whose DSSE
statement lists every file's sha256) next to the weights. The image builder signs each artifacts
destination this way, as the image will carry it (after ``artifacts_exclude``), when the model
signing key that platform/supply-chain.yaml ``models.signingKey`` names is set
(``image_signer``); the runtimes verify before they load (runtimes/fastapi/weights_signature.py
in-process, ``python -m model_signing verify key`` in an init container for servers we do not
modify). One key signs the weights for every environment, so the image that staging checked is
the very digest prod runs.

Signatures are deterministic (RFC 6979): model-signing's own EC signer draws a random nonce, so the
same weights would give a new model.sig, and a new image digest, on every clean build. Keys are
in tools/supply/keys.py's format; model-signing wants a PEM, so it gets a private, short-lived copy.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tools.errors import UserError
from tools.supply import keys

SIGNATURE_FILE = "model.sig"
# Files next to the weights that are not the model: the signature itself, the artifact cache key.
IGNORED = (SIGNATURE_FILE, ".key")


class _DeterministicKey:
    """The private key model-signing's EC signer holds, signing with RFC 6979 nonces."""

    def __init__(self, key: ec.EllipticCurvePrivateKey):
        self._key = key

    def sign(self, data: bytes, algorithm: ec.ECDSA) -> bytes:
        return self._key.sign(data, ec.ECDSA(algorithm.algorithm, deterministic_signing=True))

    def __getattr__(self, name: str):
        return getattr(self._key, name)


def _hashing(model_dir: Path):
    import model_signing

    return model_signing.hashing.Config().set_ignored_paths(
        paths=[model_dir / name for name in IGNORED], ignore_git_paths=True
    )


def _sign_with(key: ec.EllipticCurvePrivateKey, model_dir: Path) -> Path:
    import model_signing

    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signature = model_dir / SIGNATURE_FILE
    with tempfile.TemporaryDirectory(prefix="servectl-sign-") as tmp:
        key_pem = Path(tmp) / "key.pem"
        key_pem.touch(mode=0o600)
        key_pem.write_bytes(pem)
        config = model_signing.signing.Config().use_elliptic_key_signer(private_key=key_pem)
        signer = config._signer  # model-signing 1.1.1's ec_key.Signer; tests check determinism
        signer._private_key = _DeterministicKey(signer._private_key)
        try:
            config.set_hashing_config(_hashing(model_dir)).sign(model_dir, signature)
        except (OSError, ValueError) as error:
            raise UserError(f"model-signing could not sign {model_dir}: {error}") from None
    return signature


def sign_model(model_dir: Path, key_file: Path, passphrase: str) -> Path:
    return _sign_with(keys.load_private(key_file, passphrase), model_dir)


def verify_model(model_dir: Path, public_key: Path) -> None:
    """Raises UserError (one line: why) unless ``model_dir``'s model.sig verifies with ``public_key``."""
    import model_signing

    signature = model_dir / SIGNATURE_FILE
    if not signature.is_file():
        raise UserError(f"no model signature ({SIGNATURE_FILE}) beside the weights", file=model_dir)
    config = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public_key)
    try:
        config.set_hashing_config(_hashing(model_dir)).verify(model_dir, signature)
    except Exception as error:  # model-signing raises ValueError and others for a bad signature
        raise UserError(
            f"model signature does not verify: {str(error).splitlines()[0]}", file=model_dir
        ) from None


def model_layers(layout_dir: Path) -> list[tuple[str, str]]:
    """(destination, layer digest) of each artifacts layer of the layout's image."""
    from tools.supply.contents import image_manifest

    _, manifest, config = image_manifest(layout_dir)
    history = [h.get("created_by", "") for h in config.get("history", []) if not h.get("empty_layer")]
    return [
        (created_by.rsplit(" -> ", 1)[1].strip("/"), layer["digest"])
        for created_by, layer in zip(history, manifest["layers"], strict=False)
        if created_by.startswith("servectl: artifacts ") and " -> " in created_by
    ]


def image_model_problems(layout_dir: Path, public_key: Path) -> list[str]:
    """Verifies every model the image carries with ``public_key``, from the layer bytes
    themselves (what the server will load); one line per model that does not verify."""
    from tools.supply.contents import blob_path

    problems = []
    for destination, digest in model_layers(layout_dir):
        with tempfile.TemporaryDirectory(prefix="servectl-model-") as tmp:
            with tarfile.open(blob_path(layout_dir, digest), mode="r:*") as tar:
                members = [
                    m
                    for m in tar.getmembers()
                    if (m.isreg() or m.isdir())
                    and m.name.removeprefix("./").startswith(destination + "/")
                    and ".." not in Path(m.name).parts
                ]
                tar.extractall(tmp, members=members)  # Debian's 3.11.2 has no extraction filters
            try:
                verify_model(Path(tmp) / destination, public_key)
            except UserError as error:
                problems.append(f"/{destination}: {error.message}")
    return problems


@dataclass(frozen=True)
class ImageSigner:
    """Signs model directories for the image builder; ``fingerprint`` goes into the layer's cache key."""

    key: ec.EllipticCurvePrivateKey
    fingerprint: str  # sha256 of the public key (DER)

    def __call__(self, model_dir: Path) -> None:
        _sign_with(self.key, model_dir)


def image_signer() -> ImageSigner | None:
    """The model signing key platform/supply-chain.yaml names, when its variable is set; else None
    (an unsigned build: fine for local, refused where the environment requires model signatures)."""
    from tools.supply import policy

    models = policy.load_policy().models
    if models.signingKey is None or not os.environ.get(models.signingKey.pathEnv):
        return None
    key_file = Path(os.environ[models.signingKey.pathEnv])
    key = keys.load_private(key_file, os.environ.get(models.signingKey.passphraseEnv, ""))
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ImageSigner(key, hashlib.sha256(der).hexdigest())
