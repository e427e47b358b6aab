"""A model's revisions on a podman environment, kept in the state dir beside its record.

``.build/local/<env>/<model>.revisions/<N>.yaml``: each apply that became ready (what was played,
with the image digests), the newest ``KEEP``, written atomically. The ConfigMap files a played
pod mounts are content-addressed and never removed (tools/deploy/podman/play.py), so an old
revision can be played again as it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from tools.deploy.revision import Revision, new_revision
from tools.errors import UserError

KEEP = 10


class LocalHistory:
    """One model's revisions in ``state_dir``."""

    def __init__(self, state_dir: Path, model: str):
        self.model = model
        self.directory = state_dir / f"{model}.revisions"

    def revisions(self) -> list[Revision]:
        """Oldest first."""
        if not self.directory.is_dir():
            return []
        found = [Revision(**yaml.safe_load(p.read_text())) for p in self.directory.glob("*.yaml")]
        return sorted(found, key=lambda r: r.number)

    def get(self, number: int | None) -> Revision:
        """Revision ``number`` (None: the one before the latest), or a UserError saying what is kept."""
        revisions = self.revisions()
        if number is None:
            if len(revisions) < 2:
                count = f"{len(revisions)} recorded revision(s)"
                raise UserError(f"{self.model} has {count}: nothing to roll back to")
            return revisions[-2]
        for revision in revisions:
            if revision.number == number:
                return revision
        kept = ", ".join(str(r.number) for r in revisions) or "none"
        raise UserError(f"{self.model} has no revision {number} here (kept: {kept})")

    def record(
        self, played: Sequence[Mapping], digests: Mapping[str, str], rollback_of: int | None = None
    ) -> Revision:
        """Adds a revision unless it repeats the latest; drops the oldest beyond ``KEEP``."""
        revisions = self.revisions()
        if revisions and revisions[-1].objects == list(played) and rollback_of is None:
            return revisions[-1]
        revision = new_revision(revisions, played, digests, rollback_of)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{revision.number}.yaml"
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(dataclasses.asdict(revision), sort_keys=True))
        tmp.replace(path)
        for old in [*revisions, revision][:-KEEP]:
            (self.directory / f"{old.number}.yaml").unlink(missing_ok=True)
        return revision
