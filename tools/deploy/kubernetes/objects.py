"""Rendered objects as the server types them, and finding live objects by the model's labels.

Prune, delete and status find a model's objects by its ``app.kubernetes.io/instance`` +
``app.kubernetes.io/managed-by`` labels (tools.k8s.label_keys), only among the model's own kinds
(tools.k8s.kinds), never the shared Namespace, ServiceAccount or RBAC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass

from lightkube import ApiError
from lightkube.generic_resource import GenericNamespacedResource

from tools.deploy.kubernetes.client import Cluster
from tools.errors import UserError
from tools.k8s.kinds import MODEL_KINDS, apply_rank, is_shared
from tools.k8s.label_keys import INSTANCE, MANAGED_BY


@dataclass
class KubeObject:
    """A rendered object with the resource class the server says it belongs to."""

    body: dict
    resource: type
    group: str

    kind = property(lambda self: self.body["kind"])
    name = property(lambda self: self.body["metadata"]["name"])
    namespace = property(lambda self: self.body["metadata"].get("namespace"))
    key = property(lambda self: (self.group, self.kind, self.namespace, self.name))


def prepare(cluster: Cluster, objects: Sequence[Mapping]) -> list[KubeObject]:
    """Checks each object's identity and that the server serves its kind; sorts for applying."""
    prepared = []
    for index, raw in enumerate(objects):
        where = f"objects[{index}]"
        api_version, kind, name = identity(raw, where)
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
        prepared.append(KubeObject(body, resource, api_version.rpartition("/")[0]))
    keys = [o.key for o in prepared]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise UserError(f"rendered twice: {', '.join(f'{k[1]}/{k[3]}' for k in sorted(duplicates))}")
    return sorted(prepared, key=lambda o: apply_rank(o.kind))


def identity(raw, where: str) -> tuple[str, str, str]:
    """(apiVersion, kind, name) of a rendered object, or a UserError naming its place in the list."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("metadata"), Mapping):
        raise UserError("not a Kubernetes object (no metadata)", field=where)
    api_version, kind, name = raw.get("apiVersion"), raw.get("kind"), raw["metadata"].get("name")
    if not (api_version and kind and name):
        raise UserError("every object needs apiVersion, kind and metadata.name", field=where)
    return api_version, kind, name


def selection(cluster: Cluster, target, namespace: str | None):
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
        identity(raw, f"objects[{index}]")
    shared = prepare(cluster, [o for o in objects if is_shared(o)])
    owned = [o["metadata"] for o in objects if not is_shared(o)]
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


def labelled(cluster: Cluster, selector: Mapping[str, str], namespaces: Iterable[str]) -> list[KubeObject]:
    """Live objects of the model kinds carrying ``selector``, in ``namespaces`` ("*" for all)."""
    found = []
    for group, kind, _resource in MODEL_KINDS:
        version = cluster.served_version(group)
        resource = version and cluster.resource(version, kind)
        if not resource:
            continue  # e.g. no Prometheus Operator CRD: there can be no ServiceMonitors to prune
        for namespace in namespaces:
            for item in cluster.client.list(resource, namespace=namespace, labels=dict(selector)):
                # list items come without apiVersion and kind
                found.append(KubeObject({"apiVersion": version, "kind": kind, **item}, resource, group))
    return found


def live_object(cluster: Cluster, obj: KubeObject) -> dict | None:
    """The live object, or None when the server has none of that name."""
    try:
        return dict(cluster.client.get(obj.resource, obj.name, namespace=obj.namespace))
    except ApiError as error:
        if error.status.code == 404:
            return None
        raise UserError(f"{ref(obj)}: reading it failed: {error.status.message}") from None


def delete_one(cluster: Cluster, obj: KubeObject) -> bool:
    """Deletes one object; False when it was already gone."""
    try:
        cluster.client.delete(obj.resource, obj.name, namespace=obj.namespace)
    except ApiError as error:
        if error.status.code == 404:
            return False
        raise UserError(f"deleting {ref(obj)} failed: {error.status.message}") from None
    return True


def in_delete_order(objects: Iterable[KubeObject]) -> list[KubeObject]:
    """Dependents first (reverse apply order), then by namespace and name."""
    return sorted(objects, key=lambda o: (-apply_rank(o.kind), o.namespace or "", o.name))


def ref(obj: KubeObject) -> str:
    """How an object is named in messages: apiVersion, kind, name and namespace."""
    where = f" in namespace {obj.namespace}" if obj.namespace else ""
    return f"{obj.body['apiVersion']} {obj.kind} {obj.name}{where}"
