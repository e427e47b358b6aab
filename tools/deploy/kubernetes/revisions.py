"""A model's revisions on a cluster: each successful apply recorded, a failed rollout rolled back.

What ``kubectl rollout undo`` cannot do for a whole model (it rolls back one Deployment's pod
template, not its ConfigMap, Service or HPA, and knows nothing of image digests by label), kept
in the cluster itself so every machine that deploys sees the same history:

- ``<model>-revisions``, a ConfigMap in the model's namespace, holds the last ``KEEP`` revisions
  that became ready: number, time, image digests by label and the objects applied, as JSON. It
  carries no ``app.kubernetes.io/instance`` label, so prune and ``delete`` leave it alone (the
  history outlives a delete, as a Deployment's ReplicaSets do not).
- ``apply_recorded``: apply, wait for the rollout; ready -> a new revision is recorded; not ready
  within the deadline -> the last recorded revision is applied again, waited for, and the error
  says what was rolled back to (the command exits non-zero).
- ``rollback``: by hand, to the last or a given revision; recorded as a new revision, as
  ``kubectl rollout undo`` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict

from lightkube import ApiError

from tools.deploy.kubernetes import operations
from tools.deploy.kubernetes.changes import RolloutTimeout
from tools.deploy.kubernetes.client import FIELD_MANAGER, Cluster
from tools.deploy.revision import Revision, new_revision
from tools.errors import UserError
from tools.k8s.label_keys import MANAGED_BY, REVISIONS_OF

KEEP = 10  # revisions kept: a ConfigMap holds at most 1 MiB, a model's objects are a few KB
Progress = Callable[[str], None]


def namespace_of(objects: Sequence[Mapping]) -> str:
    """The namespace of the model's Deployment, where its history lives."""
    for obj in objects:
        if obj.get("kind") == "Deployment":
            return obj["metadata"].get("namespace") or "default"
    raise UserError("the model renders no Deployment: there is nothing to record revisions of")


class History:
    """The ``<model>-revisions`` ConfigMap of one model, read and written through ``cluster``."""

    def __init__(self, cluster: Cluster, model: str, namespace: str):
        self.cluster, self.model, self.namespace = cluster, model, namespace
        self.name = f"{model}-revisions"
        self.resource = cluster.resource("v1", "ConfigMap")

    def revisions(self) -> list[Revision]:
        """Oldest first; empty when nothing was recorded yet."""
        try:
            live = self.cluster.client.get(self.resource, self.name, namespace=self.namespace)
        except ApiError as error:
            if error.status.code == 404:
                return []
            where = f"ConfigMap {self.namespace}/{self.name}"
            raise UserError(f"reading {where}: {error.status.message}") from None
        found = []
        for key, text in (live.get("data") or {}).items():
            if key.startswith("revision-"):
                data = json.loads(text)
                found.append(Revision(**data))
        return sorted(found, key=lambda r: r.number)

    def latest(self) -> Revision | None:
        """The last recorded (so last known good) revision."""
        revisions = self.revisions()
        return revisions[-1] if revisions else None

    def get(self, number: int) -> Revision:
        """Revision ``number``, or a UserError listing the ones kept."""
        revisions = self.revisions()
        for revision in revisions:
            if revision.number == number:
                return revision
        kept = ", ".join(str(r.number) for r in revisions) or "none"
        raise UserError(f"{self.model} has no revision {number} on the cluster (kept: {kept})")

    def record(self, objects: Sequence[Mapping], digests: Mapping[str, str], rollback_of: int | None = None):
        """Adds a revision (unless it repeats the latest), keeping the newest ``KEEP``."""
        revisions = self.revisions()
        if revisions and revisions[-1].objects == list(objects) and rollback_of is None:
            return revisions[-1]
        revision = new_revision(revisions, objects, digests, rollback_of)
        kept = [*revisions, revision][-KEEP:]
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {REVISIONS_OF: self.model, MANAGED_BY: FIELD_MANAGER},
            },
            "data": {
                f"revision-{r.number}": json.dumps(asdict(r), sort_keys=True, separators=(",", ":"))
                for r in kept
            },
        }
        self.cluster.client.apply(self.resource(body), field_manager=FIELD_MANAGER, force=True)
        return revision


def apply_recorded(
    cluster: Cluster,
    model: str,
    objects: Sequence[Mapping],
    digests: Mapping[str, str],
    *,
    timeout: float,
    interval: float = 2.0,
    progress: Progress | None = None,
) -> Revision:
    """Applies and waits; records the revision once ready, or rolls back to the last good one
    and raises a UserError saying so when the rollout is not ready within ``timeout``."""
    say = progress or (lambda _line: None)
    history = History(cluster, model, namespace_of(objects))
    last_good = history.latest()
    operations.apply(cluster, objects, progress=say)
    try:
        operations.wait_ready(cluster, objects, timeout=timeout, interval=interval, progress=say)
    except RolloutTimeout as error:
        if last_good is None or last_good.objects == list(objects):
            raise UserError(f"{model}: {error}; no earlier good revision to roll back to") from None
        say(f"{model}: rolling back to {last_good.describe()}")
        back = _restore(cluster, history, last_good, timeout=timeout, interval=interval, say=say)
        raise UserError(f"{model}: {error}; rolled back to revision {last_good.number}, {back}") from None
    revision = history.record(objects, digests)
    say(f"{model}: recorded {revision.describe()}")
    return revision


def rollback(
    cluster: Cluster,
    model: str,
    namespace: str,
    *,
    to: int | None = None,
    timeout: float,
    interval: float = 2.0,
    progress: Progress | None = None,
) -> Revision:
    """Applies revision ``to`` (default: the one before the latest) again and waits for it."""
    say = progress or (lambda _line: None)
    history = History(cluster, model, namespace)
    revisions = history.revisions()
    if to is None:
        if len(revisions) < 2:
            raise UserError(f"{model} has {len(revisions)} recorded revision(s): nothing to roll back to")
        target = revisions[-2]
    else:
        target = history.get(to)
    say(f"{model}: rolling back to {target.describe()}")
    back = _restore(cluster, history, target, timeout=timeout, interval=interval, say=say)
    if back != "ready again":
        raise UserError(f"{model}: rolled back to revision {target.number}, {back}")
    return history.latest()


def _restore(cluster: Cluster, history: History, revision: Revision, *, timeout, interval, say) -> str:
    operations.apply(cluster, revision.objects, progress=say)
    try:
        operations.wait_ready(cluster, revision.objects, timeout=timeout, interval=interval, progress=say)
    except RolloutTimeout:
        return f"which is not ready either after {timeout:g} s"
    history.record(revision.objects, revision.digests, rollback_of=revision.number)
    return "ready again"
