"""Model weights signed with OpenSSF model-signing (PyPI ``model-signing``), with the platform key.

``sign_model(model_dir, key_file, passphrase)`` writes ``model.sig`` (a sigstore bundle whose
DSSE statement lists every file's sha256) next to the weights; the runtimes verify it before they
load (runtimes/fastapi/weights_signature.py). The key is the environment's signing key
(tools/supply/keys.py format); model-signing wants a PEM, so it gets a private, short-lived copy.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tools.errors import UserError
from tools.supply import keys

SIGNATURE_FILE = "model.sig"
# Files next to the weights that are not the model: the signature itself, the artifact cache key.
IGNORED = (SIGNATURE_FILE, ".key")


def sign_model(model_dir: Path, key_file: Path, passphrase: str) -> Path:
    import model_signing

    key = keys.load_private(key_file, passphrase)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signature = model_dir / SIGNATURE_FILE
    with tempfile.TemporaryDirectory(prefix="servectl-sign-") as tmp:
        key_pem = Path(tmp) / "key.pem"
        key_pem.touch(mode=0o600)
        key_pem.write_bytes(pem)
        hashing = model_signing.hashing.Config().set_ignored_paths(
            paths=[model_dir / name for name in IGNORED], ignore_git_paths=True
        )
        try:
            (
                model_signing.signing.Config()
                .use_elliptic_key_signer(private_key=key_pem)
                .set_hashing_config(hashing)
                .sign(model_dir, signature)
            )
        except (OSError, ValueError) as error:
            raise UserError(f"model-signing could not sign {model_dir}: {error}") from None
    return signature
