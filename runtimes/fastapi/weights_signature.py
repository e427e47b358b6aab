"""Refuses to load weights whose OpenSSF model-signing signature does not verify.

Off unless ``MODEL_SIGNATURE_PUBLIC_KEY`` names a PEM public key (the environment's, mounted into
the pod). Then the signature (``MODEL_SIGNATURE``, default ``model.sig`` beside the weights) must
verify over every file of the model directory, or the model never becomes ready: one log line
says why and ``model_signature_verified{model}`` is 0 (1 once verified).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from prometheus_client import Gauge

log = logging.getLogger(__name__)
SIGNATURE_FILE = "model.sig"
IGNORED = (SIGNATURE_FILE, ".key")  # tools/supply/models.py signs all other files
VERIFIED = Gauge(
    "model_signature_verified",
    "1 when the model's weights verified against MODEL_SIGNATURE_PUBLIC_KEY, 0 when they did not",
    ["model"],
)


class SignatureError(Exception):
    """The weights are not what the platform key signed (or cannot be checked)."""


def model_directory(model_path: str) -> Path:
    path = Path(model_path)
    return path if path.is_dir() else path.parent


def verify_weights(model_path: str, model_name: str) -> None:
    """Raises SignatureError (after logging one clear line) unless the weights verify."""
    public_key = os.environ.get("MODEL_SIGNATURE_PUBLIC_KEY", "")
    if not public_key:
        return
    directory = model_directory(model_path)
    signature = Path(os.environ.get("MODEL_SIGNATURE") or directory / SIGNATURE_FILE)
    try:
        import model_signing

        if not signature.is_file():
            raise SignatureError(f"no signature at {signature}")
        hashing = model_signing.hashing.Config().set_ignored_paths(
            paths=[directory / name for name in IGNORED], ignore_git_paths=True
        )
        config = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public_key)
        config.set_hashing_config(hashing).verify(directory, signature)
    except ImportError:
        reason = "the model-signing package is not installed in this image"
    except SignatureError as error:
        reason = str(error)
    except Exception as error:  # model-signing raises ValueError and others for a bad signature
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
    else:
        VERIFIED.labels(model_name).set(1)
        log.info("model %s: weights in %s verified with %s", model_name, directory, public_key)
        return
    VERIFIED.labels(model_name).set(0)
    log.error(
        "model %s: weights signature check failed, refusing to load %s: %s", model_name, directory, reason
    )
    raise SignatureError(f"weights signature check failed: {reason}")
