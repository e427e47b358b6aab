"""Signatures: cosign-format image signatures and DSSE envelopes for the SBOM and provenance.

- The image signature is the "simple signing" payload cosign and containers/image use
  (``critical.identity.docker-reference``, ``critical.image.docker-manifest-digest``), signed with
  ECDSA P-256 / SHA-256, base64 in the ``dev.cosignproject.cosign/signature`` annotation. podman,
  skopeo and CRI-O verify it on pull with a policy.json ``sigstoreSigned`` requirement.
- The SBOM and provenance travel as DSSE envelopes (in-toto's signing wrapper, as ``cosign
  attest`` makes), verified with securesystemslib.

Signing is deterministic (RFC 6979 ECDSA), so re-signing the same image gives the same bytes.
"""

from __future__ import annotations

import base64
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tools.errors import UserError

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
_ALGORITHM = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


def simple_signing_payload(docker_reference: str, digest: str) -> bytes:
    """Byte-for-byte the payload cosign writes (``optional: null``), which containers/image parses."""
    critical = {
        "identity": {"docker-reference": docker_reference},
        "image": {"docker-manifest-digest": digest},
        "type": "cosign container image signature",
    }
    return json.dumps({"critical": critical, "optional": None}, separators=(",", ":")).encode()


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data, _ALGORITHM)).decode()


def verify(public: ec.EllipticCurvePublicKey, data: bytes, signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature), data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _keyid(public: ec.EllipticCurvePublicKey) -> str:
    from securesystemslib.signer import SSlibKey

    return SSlibKey.from_crypto(public).keyid


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def dsse_envelope(key: ec.EllipticCurvePrivateKey, payload_type: str, payload: bytes) -> bytes:
    envelope = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": payload_type,
        "signatures": [{"keyid": _keyid(key.public_key()), "sig": sign(key, _pae(payload_type, payload))}],
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()


def open_envelope(data: bytes, public: ec.EllipticCurvePublicKey, what: str) -> bytes:
    """The payload of a DSSE envelope signed by ``public`` (checked by securesystemslib)."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError
    from securesystemslib.signer import SSlibKey

    try:
        envelope = Envelope.from_dict(json.loads(data))
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{what}: not a DSSE envelope") from None
    try:
        envelope.verify([SSlibKey.from_crypto(public)], 1)
    except VerificationError:
        raise UserError(f"{what}: signature does not verify with the environment's public key") from None
    return envelope.payload
