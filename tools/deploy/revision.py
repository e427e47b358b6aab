"""One applied-and-ready state of a model, as every target records it (history and rollback).

Kubernetes keeps them in the cluster (tools/deploy/kubernetes/revisions.py), podman in the state
dir (tools/deploy/podman/revisions.py); both number them the same way and print them alike.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Revision:
    """One applied-and-ready state of a model."""

    number: int
    applied_at: str  # UTC, ISO 8601
    digests: dict[str, str]  # image label -> sha256:<hex>
    objects: list[dict]
    rollback_of: int | None = None

    def summary(self) -> dict:
        """JSON-ready, without the objects (``history``/``rollback -o json``, tools/commands/_output.py)."""
        return {
            "revision": self.number,
            "applied_at": self.applied_at,
            "digests": dict(self.digests),
            "rollback_of": self.rollback_of,
        }

    def describe(self) -> str:
        images = ", ".join(f"{label} {digest[:19]}" for label, digest in sorted(self.digests.items()))
        undo = f" (rollback to {self.rollback_of})" if self.rollback_of else ""
        return f"revision {self.number}  {self.applied_at}  {images or 'no images'}{undo}"


def new_revision(
    earlier: Sequence[Revision],
    objects: Sequence[Mapping],
    digests: Mapping[str, str],
    rollback_of: int | None = None,
) -> Revision:
    """The revision after ``earlier`` (oldest first), applied now."""
    return Revision(
        number=(earlier[-1].number + 1) if earlier else 1,
        applied_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        digests=dict(digests),
        objects=[dict(o) for o in objects],
        rollback_of=rollback_of,
    )
