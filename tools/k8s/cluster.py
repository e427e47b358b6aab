"""The cluster half of the deploy verbs: apply, diff, delete, status and wait, on a real API server.

Takes resolved objects (plain dicts, as ``tools.k8s.resolve`` produces them) and talks to the API
server with lightkube: server-side apply with field manager ``servectl``, server-side dry run for
``diff`` and ``--dry-run``, label selectors for prune and delete.

Objects are sent exactly as rendered (as lightkube generic resources, typed by the server's own
discovery), so the server validates every field: lightkube's typed models would silently drop a
misspelt field instead.

Safety rules (rules_k8s and rules_gitops users asked for these):
- no kubeconfig, an unknown context or an unreachable server fail before any object is sent;
- every object is dry-run on the server before the first real write, so a rejected object
  usually stops the apply with nothing changed; if the server still rejects one during the real
  apply, the objects before it stay applied (each apply is atomic) and nothing is pruned;
- prune and delete only touch the model's own kinds carrying the rendered objects'
  ``app.kubernetes.io/instance`` + ``app.kubernetes.io/managed-by`` labels, never the shared
  Namespace, ServiceAccount or RBAC unless asked for.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx2
import yaml
from lightkube import ApiError, Client, ConfigError, KubeConfig
from lightkube.config.client_adapter import Client as HttpClient
from lightkube.config.client_adapter import ConnectionParams
from lightkube.generic_resource import GenericGlobalResource, GenericNamespacedResource, create_api_info

from tools.errors import UserError

FIELD_MANAGER = "servectl"
INSTANCE = "app.kubernetes.io/instance"
MANAGED_BY = "app.kubernetes.io/managed-by"
TIMEOUT_S = 10.0

# Dependency order: what a kind refers to is applied before it (deleted after it).
APPLY_ORDER = (
    "Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
    "Role", "RoleBinding", "Secret", "ConfigMap", "PersistentVolumeClaim", "Deployment", "StatefulSet",
    "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ServiceMonitor",
    "PrometheusRule",
)  # fmt: skip
# Shared by every model of the platform: never pruned, deleted only when asked for.
SHARED_KINDS = frozenset(APPLY_ORDER[:7])
# What prune, delete and status look for by label: (API group, kind); any served version will do.
MODEL_KINDS = (
    ("", "Secret"), ("", "ConfigMap"), ("", "PersistentVolumeClaim"), ("apps", "Deployment"),
    ("apps", "StatefulSet"), ("", "Service"), ("policy", "PodDisruptionBudget"),
    ("autoscaling", "HorizontalPodAutoscaler"), ("monitoring.coreos.com", "ServiceMonitor"),
    ("monitoring.coreos.com", "PrometheusRule"),
)  # fmt: skip
# Set by the server, never by us: left out when comparing rendered with live.
_SERVER_METADATA = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink")
_SERVER_ANNOTATIONS = (
    "deployment.kubernetes.io/revision",
    "kubectl.kubernetes.io/last-applied-configuration",
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Change:
    """One object's difference between what is rendered and what is live."""

    action: str  # "create", "update", "unchanged" or "delete"
    kind: str
    name: str
    namespace: str | None = None
    fields: tuple[str, ...] = ()  # dotted paths that differ, for "update"

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        detail = f": {', '.join(self.fields)}" if self.fields else ""
        return f"{self.action} {self.kind} {where}{self.name}{detail}"


@dataclass(frozen=True)
class DeploymentStatus:
    namespace: str
    name: str
    desired: int
    ready: int
    updated: int
    available: int
    images: tuple[str, ...]  # as in the pod template: repo@sha256:... after resolve
    running_image_ids: tuple[str, ...]  # what the kubelet reports for running pods (empty: no pods)
    rolled_out: bool

    def __str__(self) -> str:
        running = ", ".join(self.running_image_ids) or "no pods running"
        return (
            f"deployment {self.namespace}/{self.name}: {self.ready}/{self.desired} ready, "
            f"{self.updated} updated; image {', '.join(self.images)}; running: {running}"
        )


@dataclass(frozen=True)
class ServiceEndpoint:
    namespace: str
    name: str
    cluster_ip: str | None
    ports: tuple[str, ...]  # "http=80/TCP"
    external: tuple[str, ...] = ()  # load balancer addresses, when there are any

    def __str__(self) -> str:
        address = f"{self.name}.{self.namespace}.svc (cluster IP {self.cluster_ip or 'none'})"
        extra = f", external {', '.join(self.external)}" if self.external else ""
        return f"service {address}: {', '.join(self.ports)}{extra}"


@dataclass(frozen=True)
class ModelStatus:
    deployments: tuple[DeploymentStatus, ...] = ()
    services: tuple[ServiceEndpoint, ...] = ()

    @property
    def ready(self) -> bool:
        return bool(self.deployments) and all(d.rolled_out for d in self.deployments)


class RolloutTimeout(UserError):
    """wait_ready gave up; ``status`` is the last status seen."""

    def __init__(self, message: str, status: ModelStatus):
        super().__init__(message)
        self.status = status


@dataclass
class _Object:
    """A rendered object with the resource class the server says it belongs to."""

    body: dict
    resource: type
    group: str

    kind = property(lambda self: self.body["kind"])
    name = property(lambda self: self.body["metadata"]["name"])
    namespace = property(lambda self: self.body["metadata"].get("namespace"))
    key = property(lambda self: (self.group, self.kind, self.namespace, self.name))


@dataclass
class Cluster:
    """A checked connection: the kubeconfig was read and the server answered ``/version``."""

    kubeconfig: Path
    context: str | None
    client: Client
    http: httpx2.Client
    version: str
    _served: dict[str, dict[str, dict] | None] = field(default_factory=dict)
    _classes: dict[tuple[str, str], type] = field(default_factory=dict)

    def close(self) -> None:
        self.client.close()
        self.http.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close()
        # Whatever the verb did not handle itself becomes one clear line, never a traceback.
        if isinstance(error, httpx2.TransportError):
            raise UserError(
                f"lost the API server at {self.http.base_url}: {error}", file=self.kubeconfig
            ) from None
        if isinstance(error, ApiError):
            raise UserError(f"the API server refused: {error.status.message}", file=self.kubeconfig) from None

    def resource(self, api_version: str, kind: str) -> type | None:
        """The lightkube resource class for ``kind`` in ``api_version``; None if not served."""
        if (api_version, kind) not in self._classes:
            resources = self._discover(api_version)
            info = resources.get(kind) if resources else None
            if info is None:
                return None
            # Not registered in lightkube's global registry: other code keeps its typed models.
            group, _, version = api_version.rpartition("/")
            base = GenericNamespacedResource if info["namespaced"] else GenericGlobalResource
            api_info = create_api_info(group, version, kind, info["name"])
            self._classes[api_version, kind] = type(kind, (base,), {"_api_info": api_info})
        return self._classes[api_version, kind]

    def served_version(self, group: str) -> str | None:
        """The server's preferred version of an API group (``v1`` for the core group)."""
        return "v1" if group == "" else self._preferred_versions.get(group)

    @cached_property
    def _preferred_versions(self) -> dict[str, str]:
        groups = self._get_json("/apis")["groups"]
        return {g["name"]: g["preferredVersion"]["groupVersion"] for g in groups}

    def _discover(self, api_version: str) -> dict[str, dict] | None:
        if api_version not in self._served:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            body = self._get_json(path, missing_ok=True)
            resources = (body or {}).get("resources", [])
            self._served[api_version] = {r["kind"]: r for r in resources if "/" not in r["name"]} or None
        return self._served[api_version]

    def _get_json(self, path: str, *, missing_ok: bool = False) -> Any:
        try:
            response = self.http.get(path)
        except httpx2.TransportError as error:
            raise _unreachable(self.http.base_url, error, self.kubeconfig) from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.is_error:
            raise UserError(
                f"GET {path}: the API server answered {response.status_code}: {response.text[:200]}"
            )
        return response.json()


def connect(kubeconfig: str | Path | None = None, context: str | None = None) -> Cluster:
    """Reads the kubeconfig and checks the server answers, before anything is sent to it."""
    path = _kubeconfig_path(kubeconfig)
    try:
        config = KubeConfig.from_file(path).get(context)
    except ConfigError as error:
        raise UserError(f"unusable kubeconfig: {error}", file=path, field=context and "contexts") from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError) as error:
        problem = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"unreadable kubeconfig: {problem}", file=path) from None
    http = HttpClient(config, ConnectionParams(timeout=httpx2.Timeout(TIMEOUT_S)))
    try:
        response = http.get("/version")
    except httpx2.TransportError as error:
        http.close()
        raise _unreachable(config.cluster.server, error, path) from None
    if response.status_code in (401, 403):
        http.close()
        raise UserError(
            f"the API server at {config.cluster.server} refused our credentials ({response.status_code})",
            file=path,
        )
    if response.is_error:
        http.close()
        raise UserError(
            f"the API server at {config.cluster.server} answered {response.status_code}", file=path
        )
    client = Client(config=config, field_manager=FIELD_MANAGER, timeout=httpx2.Timeout(TIMEOUT_S))
    return Cluster(path, context, client, http, response.json().get("gitVersion", "unknown"))


def _kubeconfig_path(kubeconfig: str | Path | None) -> Path:
    if kubeconfig is not None:
        path = Path(kubeconfig)
    elif os.environ.get("KUBECONFIG"):
        path = Path(os.environ["KUBECONFIG"].split(os.pathsep)[0])
    else:
        path = Path.home() / ".kube" / "config"
    if not path.is_file():
        raise UserError(
            "no kubeconfig here: pass --kubeconfig or set KUBECONFIG",
            file=path,
        )
    return path


def _unreachable(server, error: Exception, kubeconfig: Path) -> UserError:
    return UserError(
        f"cannot reach the API server at {server}: {error or type(error).__name__}; nothing was sent",
        file=kubeconfig,
    )


# --- verbs -------------------------------------------------------------------------------------------


def apply(
    objects: Sequence[Mapping],
    *,
    kubeconfig: str | Path | None = None,
    context: str | None = None,
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
    with connect(kubeconfig, context) as cluster:
        prepared = _prepare(cluster, objects)
        changes, stale = _plan(cluster, prepared, prune=prune, force=force)
        if dry_run:
            return changes
        done = []
        for obj, change in zip(prepared, changes, strict=False):
            try:
                cluster.client.apply(obj.resource(obj.body), field_manager=FIELD_MANAGER, force=force)
            except ApiError as error:
                applied = ", ".join(f"{o.kind}/{o.name}" for o in done) or "nothing"
                raise UserError(
                    f"{_ref(obj)} was rejected by the API server: {error.status.message} "
                    f"(applied before it: {applied}; nothing was pruned)"
                ) from None
            done.append(obj)
            say(str(change))
        for obj, change in zip(stale, changes[len(prepared) :], strict=True):
            if _delete_one(cluster, obj):
                say(str(change))
        return changes


def diff(
    objects: Sequence[Mapping],
    *,
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    prune: bool = True,
) -> list[Change]:
    """What ``apply`` would change (server-side dry run against live); only real changes are listed."""
    changes = apply(objects, kubeconfig=kubeconfig, context=context, dry_run=True, prune=prune)
    return [c for c in changes if c.action != "unchanged"]


def delete(
    target: Sequence[Mapping] | Mapping[str, str],
    *,
    kubeconfig: str | Path | None = None,
    context: str | None = None,
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
    with connect(kubeconfig, context) as cluster:
        selector, namespaces, shared = _target(cluster, target, namespace)
        doomed = _in_delete_order([] if selector is None else _labelled(cluster, selector, namespaces))
        if include_shared:
            doomed += _in_delete_order(shared)
        changes = []
        for obj in doomed:
            change = Change("delete", obj.kind, obj.name, obj.namespace)
            if dry_run or _delete_one(cluster, obj):
                changes.append(change)
                say(str(change))
        return changes


def status(
    target: Sequence[Mapping] | Mapping[str, str],
    *,
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    namespace: str | None = None,
) -> ModelStatus:
    """Ready replicas, the image digests in use and the Service endpoints of one model."""
    with connect(kubeconfig, context) as cluster:
        return _status(cluster, *_target(cluster, target, namespace)[:2])


def wait_ready(
    target: Sequence[Mapping] | Mapping[str, str],
    *,
    kubeconfig: str | Path | None = None,
    context: str | None = None,
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
    with connect(kubeconfig, context) as cluster:
        selector, namespaces, _ = _target(cluster, target, namespace)
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


def _prepare(cluster: Cluster, objects: Sequence[Mapping]) -> list[_Object]:
    """Checks each object's identity and that the server serves its kind; sorts for applying."""
    prepared = []
    for index, raw in enumerate(objects):
        where = f"objects[{index}]"
        api_version, kind, name = _identity(raw, where)
        body = deepcopy(dict(raw))
        resource = cluster.resource(api_version, kind)
        if resource is None:
            raise UserError(
                f"{kind} {name}: the API server ({cluster.version}) does not serve {kind} in "
                f"{api_version}; nothing was sent",
                field=f"{where}.apiVersion",
            )
        namespaced = issubclass(resource, GenericNamespacedResource)
        if namespaced != bool(body["metadata"].get("namespace")):
            problem = "needs metadata.namespace" if namespaced else "is cluster-wide: drop metadata.namespace"
            raise UserError(f"{kind} {name} {problem}", field=f"{where}.metadata.namespace")
        prepared.append(_Object(body, resource, api_version.rpartition("/")[0]))
    keys = [o.key for o in prepared]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise UserError(f"rendered twice: {', '.join(f'{k[1]}/{k[3]}' for k in sorted(duplicates))}")
    return sorted(prepared, key=lambda o: _order(o.kind))


def _identity(raw, where: str) -> tuple[str, str, str]:
    """(apiVersion, kind, name) of a rendered object, or a UserError naming its place in the list."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("metadata"), Mapping):
        raise UserError("not a Kubernetes object (no metadata)", field=where)
    api_version, kind, name = raw.get("apiVersion"), raw.get("kind"), raw["metadata"].get("name")
    if not (api_version and kind and name):
        raise UserError("every object needs apiVersion, kind and metadata.name", field=where)
    return api_version, kind, name


def _plan(cluster: Cluster, prepared: list[_Object], *, prune: bool, force: bool):
    """One Change per prepared object (same order), then the deletions prune would make; and the
    live objects prune would delete (in that order)."""
    new_namespaces = {o.name for o in prepared if o.kind == "Namespace" and _live(cluster, o) is None}
    changes = []
    for obj in prepared:
        live = _live(cluster, obj)
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
                f"{_ref(obj)} was rejected by the API server: {error.status.message} (nothing was applied)"
            ) from None
        if live is None:
            changes.append(Change("create", obj.kind, obj.name, obj.namespace))
        else:
            fields = tuple(_differences(_comparable(live), _comparable(dict(after))))
            changes.append(
                Change("update" if fields else "unchanged", obj.kind, obj.name, obj.namespace, fields)
            )
    stale = []
    if prune:
        selector, namespaces, _ = _target(cluster, [o.body for o in prepared], None)
        if selector is not None:
            rendered = {o.key for o in prepared}
            stale = _in_delete_order(
                o for o in _labelled(cluster, selector, namespaces) if o.key not in rendered
            )
            changes += [Change("delete", o.kind, o.name, o.namespace) for o in stale]
    return changes, stale


def _target(cluster: Cluster, target, namespace: str | None):
    """(label selector, namespaces, shared objects) for a rendered object list or a label mapping."""
    if isinstance(target, Mapping) and "metadata" not in target:
        labels = dict(target)
        if not labels.get(INSTANCE):
            raise UserError(f"a label target needs {INSTANCE} (and usually {MANAGED_BY})")
        return labels, [namespace] if namespace else ["*"], []
    # Only labels and namespaces are read from the model's objects, so delete and status work from
    # a rendering whose kinds this server may not serve (or whose images are not resolved).
    objects = list(target)
    for index, raw in enumerate(objects):
        _identity(raw, f"objects[{index}]")
    shared = _prepare(cluster, [o for o in objects if o["kind"] in SHARED_KINDS])
    owned = [o["metadata"] for o in objects if o["kind"] not in SHARED_KINDS]
    if not owned:
        return None, [], shared
    pairs = {(meta.get("labels") or {}).get(INSTANCE) for meta in owned}
    managers = {(meta.get("labels") or {}).get(MANAGED_BY) for meta in owned}
    if None in pairs or None in managers or len(pairs) > 1 or len(managers) > 1:
        found = f"{sorted(map(str, pairs))} / {sorted(map(str, managers))}"
        raise UserError(
            f"prune and delete need every model object to carry the same {INSTANCE} and {MANAGED_BY} "
            f"labels; found {found}"
        )
    selector = {INSTANCE: pairs.pop(), MANAGED_BY: managers.pop()}
    return selector, sorted({meta.get("namespace") or "default" for meta in owned}), shared


def _labelled(cluster: Cluster, selector: Mapping[str, str], namespaces: Iterable[str]) -> list[_Object]:
    """Live objects of the model kinds carrying ``selector``, in ``namespaces`` ("*" for all)."""
    found = []
    for group, kind in MODEL_KINDS:
        version = cluster.served_version(group)
        resource = version and cluster.resource(version, kind)
        if not resource:
            continue  # e.g. no Prometheus Operator CRD: there can be no ServiceMonitors to prune
        for namespace in namespaces:
            for item in cluster.client.list(resource, namespace=namespace, labels=dict(selector)):
                # list items come without apiVersion and kind
                found.append(_Object({"apiVersion": version, "kind": kind, **item}, resource, group))
    return found


def _live(cluster: Cluster, obj: _Object) -> dict | None:
    try:
        return dict(cluster.client.get(obj.resource, obj.name, namespace=obj.namespace))
    except ApiError as error:
        if error.status.code == 404:
            return None
        raise UserError(f"{_ref(obj)}: reading it failed: {error.status.message}") from None


def _delete_one(cluster: Cluster, obj: _Object) -> bool:
    """Deletes one object; False when it was already gone."""
    try:
        cluster.client.delete(obj.resource, obj.name, namespace=obj.namespace)
    except ApiError as error:
        if error.status.code == 404:
            return False
        raise UserError(f"deleting {_ref(obj)} failed: {error.status.message}") from None
    return True


def _status(cluster: Cluster, selector, namespaces) -> ModelStatus:
    if selector is None:
        return ModelStatus()
    deployments, services = [], []
    for obj in _labelled(cluster, selector, namespaces):
        if obj.kind == "Deployment":
            deployments.append(_deployment_status(cluster, obj.body))
        elif obj.kind == "Service":
            services.append(_endpoint(obj.body))
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


def _endpoint(body: dict) -> ServiceEndpoint:
    spec = body.get("spec", {})
    ports = tuple(
        f"{p.get('name', '')}={p['port']}/{p.get('protocol', 'TCP')}".lstrip("=")
        for p in spec.get("ports", [])
    )
    ingress = (body.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
    external = tuple(i.get("ip") or i.get("hostname") for i in ingress)
    meta = body["metadata"]
    return ServiceEndpoint(meta["namespace"], meta["name"], spec.get("clusterIP"), ports, external)


# --- comparing ---------------------------------------------------------------------------------------


def _comparable(obj: dict) -> dict:
    """``obj`` without what the server owns (status, bookkeeping metadata)."""
    obj = deepcopy(obj)
    obj.pop("status", None)
    meta = obj.get("metadata", {})
    for key in _SERVER_METADATA:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    for key in _SERVER_ANNOTATIONS:
        annotations.pop(key, None)
    if not annotations:
        meta.pop("annotations", None)
    return obj


def _differences(live: Any, planned: Any, path: str = "") -> Iterable[str]:
    """Dotted paths where ``planned`` differs from ``live`` (lists element by element)."""
    if isinstance(live, dict) and isinstance(planned, dict):
        for key in sorted(set(live) | set(planned)):
            yield from _differences(live.get(key), planned.get(key), f"{path}.{key}" if path else key)
    elif isinstance(live, list) and isinstance(planned, list) and len(live) == len(planned):
        for index, (old, new) in enumerate(zip(live, planned, strict=True)):
            yield from _differences(old, new, f"{path}[{index}]")
    elif live != planned:
        yield path or "."


def _order(kind: str) -> int:
    return APPLY_ORDER.index(kind) if kind in APPLY_ORDER else len(APPLY_ORDER)


def _in_delete_order(objects: Iterable[_Object]) -> list[_Object]:
    return sorted(objects, key=lambda o: (-_order(o.kind), o.namespace or "", o.name))


def _ref(obj: _Object) -> str:
    where = f" in namespace {obj.namespace}" if obj.namespace else ""
    return f"{obj.body['apiVersion']} {obj.kind} {obj.name}{where}"
