"""Signing keys in the format skopeo and podman use for sigstore signatures (cosign's).

The private key is an ECDSA P-256 key, PKCS#8, encrypted the way sigstore's tools store it: a PEM
block ``ENCRYPTED SIGSTORE PRIVATE KEY`` holding JSON with scrypt parameters, a salt, a NaCl
secretbox nonce and the ciphertext. So the same key file works with
``skopeo copy --sign-by-sigstore-private-key`` and with this package; the public key is a plain
PEM that containers' policy.json names (``sigstoreSigned`` / ``keyPath``). Keys for real
environments are made by their owners and never committed; the tests make throwaway ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tools.errors import UserError

_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
_SCRYPT = {"N": 32768, "r": 8, "p": 1}  # sigstore's defaults


def _secretbox_key(passphrase: bytes, salt: bytes, params: dict) -> bytes:
    return hashlib.scrypt(
        passphrase, salt=salt, n=params["N"], r=params["r"], p=params["p"], maxmem=256 << 20, dklen=32
    )


def generate(private_path: Path, public_path: Path, passphrase: str) -> None:
    """Writes a new key pair: the encrypted private key (mode 0600) and the public key PEM."""
    import nacl.secret
    import nacl.utils

    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt = os.urandom(32)
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(_secretbox_key(passphrase.encode(), salt, _SCRYPT))
    ciphertext = box.encrypt(der, nonce).ciphertext
    document = {
        "kdf": {"name": "scrypt", "params": _SCRYPT, "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    body = base64.encodebytes(json.dumps(document).encode()).decode()
    text = f"-----BEGIN {_PEM_TYPE}-----\n{body}-----END {_PEM_TYPE}-----\n"
    with os.fdopen(os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(text)  # created 0600: never readable by others, not even for a moment
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def load_private(path: Path, passphrase: str) -> ec.EllipticCurvePrivateKey:
    import nacl.exceptions
    import nacl.secret

    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError("signing key not found", file=path) from None
    begin, end = f"-----BEGIN {_PEM_TYPE}-----", f"-----END {_PEM_TYPE}-----"
    if begin not in text or end not in text:
        raise UserError(f"not a sigstore private key (no {_PEM_TYPE} block)", file=path)
    try:
        document = json.loads(base64.b64decode(text.split(begin, 1)[1].split(end, 1)[0]))
        salt = base64.b64decode(document["kdf"]["salt"])
        secret = _secretbox_key(passphrase.encode(), salt, document["kdf"]["params"])
        der = nacl.secret.SecretBox(secret).decrypt(
            base64.b64decode(document["ciphertext"]), base64.b64decode(document["cipher"]["nonce"])
        )
    except nacl.exceptions.CryptoError:
        raise UserError("wrong passphrase for the signing key", file=path) from None
    except (ValueError, KeyError) as error:
        raise UserError(f"unreadable sigstore private key ({error})", file=path) from None
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UserError("the signing key is not an ECDSA key", file=path)
    return key


def load_public(path: Path) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise UserError("public key not found", file=path) from None
    except ValueError:
        raise UserError("not a PEM public key", file=path) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UserError("the public key is not an ECDSA key", file=path)
    return key


def key_id(public: ec.EllipticCurvePublicKey) -> str:
    """sha256 of the DER public key: names the key in DSSE signatures and error messages."""
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import getpass
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m tools.supply.keys", description="make a signing key pair"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("generate", help="write PREFIX.key (encrypted) and PREFIX.pub")
    make.add_argument("--out", required=True, type=Path, help="path prefix, e.g. /secure/dir/prod")
    make.add_argument("--passphrase-env", help="read the passphrase from this variable instead of a prompt")
    args = parser.parse_args(argv)
    private, public = args.out.with_suffix(".key"), args.out.with_suffix(".pub")
    if private.exists() or public.exists():
        print(f"error: {private} or {public} exists; not overwriting a key", file=sys.stderr)
        return 2
    passphrase = os.environ.get(args.passphrase_env, "") if args.passphrase_env else getpass.getpass()
    generate(private, public, passphrase)
    print(f"wrote {private} (keep it secret) and {public} (commit it as platform/keys/<env>.pub)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
