"""Pins every image in a model's manifests by digest: ``<registry>/<repo>@sha256:<hex>``.

Manifests name images by Bazel label (``//models/yolo:image``); the digest comes from the file the
image build writes (``tools.paths.image_digest_file``, rules_oci's ``:image.digest``) or from an
explicit override. A missing or malformed digest is an error naming the file: a tag, let alone
``:latest``, is never written.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path

from tools.errors import UserError
from tools.k8s.render.inputs import load_inputs
from tools.k8s.render.manifests import render_inputs, to_yaml
from tools.k8s.schema.catalog import Catalog
from tools.labels import Label, image_repository
from tools.paths import REPO_ROOT, image_digest_file

__all__ = ["check_digest", "read_digest_file", "resolve", "resolve_documents", "to_yaml"]

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def check_digest(digest: str, *, source: str | Path, field: str | None = None) -> str:
    """``digest`` if it is ``sha256:<64 hex>``, else a UserError naming ``source``/``field``."""
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise UserError(
            f"not an image digest: {digest!r} (expected sha256:<64 hex>)", file=source, field=field
        )
    return digest


def read_digest_file(path: Path) -> str:
    """Reads ``sha256:<hex>\\n`` as rules_oci and ``python -m tools build`` write it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("no image digest: build the image first (python -m tools build)", file=path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read the image digest: {error}", file=path) from None
    return check_digest(text.strip(), source=path)


def image_reference(label: Label, registry: str, digests: Mapping[str, str] | None = None) -> str:
    """``registry/models/yolo/image@sha256:...`` for an image label."""
    override = (digests or {}).get(str(label))
    if override is not None:
        digest = check_digest(override, source="--digest", field=str(label))
    else:
        digest = read_digest_file(image_digest_file(label))
    return f"{registry}/{image_repository(label)}@{digest}"


def _pod_specs(doc: dict):
    if doc.get("kind") == "Deployment":
        yield doc["spec"]["template"]["spec"]


def resolve_documents(
    docs: list[dict], registry: str, digests: Mapping[str, str] | None = None
) -> list[dict]:
    """A copy of ``docs`` with every container image label replaced by a digest reference."""
    normalized = {str(Label.parse(k)): v for k, v in (digests or {}).items()}
    resolved = copy.deepcopy(docs)
    for doc in resolved:
        for pod in _pod_specs(doc):
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                label = Label.parse(container["image"])
                container["image"] = image_reference(label, registry, normalized)
    return resolved


def resolve(
    model: str,
    env: str,
    digests: Mapping[str, str] | None = None,
    *,
    root: Path = REPO_ROOT,
    catalog: Catalog | None = None,
) -> list[dict]:
    """The model's complete manifests for the environment, every image pinned by digest.

    Args:
        model: a model under models/ (``yolo``).
        env: an environment under platform/environments/ (``local``).
        digests: image label -> ``sha256:<hex>``, overriding the digest files (tests, CI).
        catalog: loaded data shared with other calls (tools.k8s.schema.catalog).
    """
    inputs = load_inputs(model, env, root=root, catalog=catalog)
    return resolve_documents(render_inputs(inputs), inputs.env.registry, digests)
