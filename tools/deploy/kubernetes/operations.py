"""The verbs on one connected cluster: apply (with prune), diff, delete, status, wait for rollout.

Safety rules (rules_k8s and rules_gitops users asked for these):
- every object is dry-run on the server before the first real write, so a rejected object
  usually stops the apply with nothing changed; if the server still rejects one during the real
  apply, the objects before it stay applied (each apply is atomic) and nothing is pruned;
- prune and delete only touch the model's own kinds carrying the rendered objects'
  ``app.kubernetes.io/instance`` + ``app.kubernetes.io/managed-by`` labels, never the shared
  Namespace, ServiceAccount or RBAC unless asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import httpx2
from lightkube import ApiError

from tools.deploy.kubernetes.changes import (
    Change,
    DeploymentStatus,
    ModelStatus,
    RolloutTimeout,
    comparable,
    differences,
    service_endpoint,
)
from tools.deploy.kubernetes.client import FIELD_MANAGER, Cluster
from tools.deploy.kubernetes.objects import (
    KubeObject,
    delete_one,
    in_delete_order,
    labelled,
    live_object,
    prepare,
    ref,
    selection,
)
from tools.errors import UserError

Progress = Callable[[str], None]


def apply(
    cluster: Cluster,
    objects: Sequence[Mapping],
    *,
    dry_run: bool = False,
    prune: bool = True,
    force: bool = True,
    progress: Progress | None = None,
) -> list[Change]:
    """Server-side applies ``objects`` in dependency order, then prunes what is no longer rendered.

    ``force`` takes over fields another manager set (the repo is the source of truth, as with
    ``kubectl apply --server-side --force-conflicts``). With ``dry_run`` nothing is written and
    the changes that would be made are returned.
    """
    say = progress or (lambda _line: None)
    prepared = prepare(cluster, objects)
    changes, stale = _plan(cluster, prepared, prune=prune, force=force)
    if dry_run:
        return changes
    done = []
    for obj, change in zip(prepared, changes, strict=False):
        try:
            cluster.client.apply(obj.resource(obj.body), field_manager=FIELD_MANAGER, force=force)
        except ApiError as error:
            raise UserError(
                f"{ref(obj)} was rejected by the API server: {error.status.message} "
                f"(applied before it: {_names(done)}; nothing was pruned)"
            ) from None
        except httpx2.TransportError as error:
            # Each object's apply is atomic: those listed are in, this one may or may not be.
            raise UserError(
                f"lost the API server while applying {ref(obj)}: {error or type(error).__name__} "
                f"(applied before it: {_names(done)}; nothing was pruned); "
                "run apply again once the server is back: it converges"
            ) from None
        done.append(obj)
        say(str(change))
    for obj, change in zip(stale, changes[len(prepared) :], strict=True):
        if delete_one(cluster, obj):
            say(str(change))
    return changes


def _reason(error: ApiError, *, creating: bool) -> str:
    """The server's message; v1.20 leaves a refused create-through-apply without a reason."""
    message = (error.status.message or "").strip()
    if error.status.code == 403 and creating and message.endswith("forbidden:"):
        return f"{message} cannot create it (server-side apply of a new object needs the create verb)"
    return message


def _names(objects: list[KubeObject]) -> str:
    return ", ".join(f"{o.kind}/{o.name}" for o in objects) or "nothing"


def diff(
    cluster: Cluster,
    objects: Sequence[Mapping],
    *,
    prune: bool = True,
) -> list[Change]:
    """What ``apply`` would change (server-side dry run against live); only real changes are listed."""
    changes = apply(cluster, objects, dry_run=True, prune=prune)
    return [c for c in changes if c.action != "unchanged"]


def delete(
    cluster: Cluster,
    target: Sequence[Mapping] | Mapping[str, str],
    *,
    namespace: str | None = None,
    include_shared: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[Change]:
    """Deletes one model's objects: those of its kinds carrying its instance + managed-by labels.

    ``target`` is the rendered objects (labels and namespaces are read from them) or the labels
    themselves (``namespace`` narrows the search; all namespaces otherwise). The shared Namespace,
    ServiceAccount and RBAC are deleted only with ``include_shared`` and rendered ``target`` objects
    (deleting the Namespace removes everything in it, other models included).
    """
    say = progress or (lambda _line: None)
    selector, namespaces, shared = selection(cluster, target, namespace)
    doomed = in_delete_order([] if selector is None else labelled(cluster, selector, namespaces))
    if include_shared:
        doomed += in_delete_order(shared)
    changes = []
    for obj in doomed:
        change = Change("delete", obj.kind, obj.name, obj.namespace)
        if dry_run or delete_one(cluster, obj):
            changes.append(change)
            say(str(change))
    return changes


def status(
    cluster: Cluster,
    target: Sequence[Mapping] | Mapping[str, str],
    *,
    namespace: str | None = None,
) -> ModelStatus:
    """Ready replicas, the image digests in use and the Service endpoints of one model."""
    return _status(cluster, *selection(cluster, target, namespace)[:2])


def wait_ready(
    cluster: Cluster,
    target: Sequence[Mapping] | Mapping[str, str],
    *,
    namespace: str | None = None,
    timeout: float = 300.0,
    interval: float = 2.0,
    progress: Progress | None = None,
) -> ModelStatus:
    """Polls until every Deployment of the model is rolled out; a line per change of progress.

    Rolled out means what ``kubectl rollout status`` checks: the controller saw the newest spec,
    and all desired replicas are updated and available. Raises RolloutTimeout after ``timeout`` s.
    """
    say = progress or (lambda _line: None)
    selector, namespaces, _ = selection(cluster, target, namespace)
    deadline, last = time.monotonic() + timeout, None
    while True:
        current = _status(cluster, selector, namespaces)
        lines = [str(d) for d in current.deployments] or ["no deployments found yet"]
        if lines != last:
            for line in lines:
                say(line)
            last = lines
        if current.ready:
            return current
        if time.monotonic() >= deadline:
            pending = ", ".join(
                f"{d.name} {d.ready}/{d.desired} ready" for d in current.deployments if not d.rolled_out
            )
            raise RolloutTimeout(f"not ready after {timeout:g} s: {pending or 'no deployments'}", current)
        time.sleep(interval)


# --- planning --------------------------------------------------------------------------------------


def _plan(cluster: Cluster, prepared: list[KubeObject], *, prune: bool, force: bool):
    """One Change per prepared object (same order), then the deletions prune would make; and the
    live objects prune would delete (in that order)."""
    new_namespaces = {o.name for o in prepared if o.kind == "Namespace" and live_object(cluster, o) is None}
    changes = []
    for obj in prepared:
        live = live_object(cluster, obj)
        if live is None and obj.namespace in new_namespaces:
            # The server cannot dry-run into a namespace that does not exist yet.
            changes.append(Change("create", obj.kind, obj.name, obj.namespace))
            continue
        try:
            after = cluster.client.apply(
                obj.resource(obj.body), field_manager=FIELD_MANAGER, force=force, dry_run=True
            )
        except ApiError as error:
            raise UserError(
                f"{ref(obj)} was rejected by the API server: {_reason(error, creating=live is None)} "
                "(nothing was applied)"
            ) from None
        if live is None:
            changes.append(Change("create", obj.kind, obj.name, obj.namespace))
        else:
            fields = tuple(differences(comparable(live), comparable(dict(after))))
            changes.append(
                Change("update" if fields else "unchanged", obj.kind, obj.name, obj.namespace, fields)
            )
    stale = []
    if prune:
        selector, namespaces, _ = selection(cluster, [o.body for o in prepared], None)
        if selector is not None:
            rendered = {o.key for o in prepared}
            stale = in_delete_order(
                o for o in labelled(cluster, selector, namespaces) if o.key not in rendered
            )
            changes += [Change("delete", o.kind, o.name, o.namespace) for o in stale]
    return changes, stale


def _status(cluster: Cluster, selector, namespaces) -> ModelStatus:
    if selector is None:
        return ModelStatus()
    deployments, services = [], []
    for obj in labelled(cluster, selector, namespaces):
        if obj.kind == "Deployment":
            deployments.append(_deployment_status(cluster, obj.body))
        elif obj.kind == "Service":
            services.append(service_endpoint(obj.body))
    return ModelStatus(tuple(deployments), tuple(services))


def _deployment_status(cluster: Cluster, body: dict) -> DeploymentStatus:
    meta, spec, st = body["metadata"], body.get("spec", {}), body.get("status", {})
    desired = spec.get("replicas", 1)
    updated, available = st.get("updatedReplicas", 0), st.get("availableReplicas", 0)
    rolled_out = (
        st.get("observedGeneration", 0) >= meta.get("generation", 1)
        and updated == desired
        and available == desired
        and st.get("replicas", 0) == desired
    )
    containers = spec.get("template", {}).get("spec", {}).get("containers", [])
    match = spec.get("selector", {}).get("matchLabels") or {}
    pod = cluster.resource("v1", "Pod")
    pods = cluster.client.list(pod, namespace=meta["namespace"], labels=match) if match else []
    statuses = [c for p in pods for c in (p.get("status") or {}).get("containerStatuses", [])]
    running = sorted({c["imageID"] for c in statuses if c.get("imageID")})
    return DeploymentStatus(
        meta["namespace"],
        meta["name"],
        desired,
        st.get("readyReplicas", 0),
        updated,
        available,
        tuple(c.get("image", "") for c in containers),
        tuple(running),
        rolled_out,
    )
