"""apply / diff / prune / delete / status / wait against a REAL kube-apiserver (v1.20, with etcd).

The ``apiserver`` fixture (tools/testing/pytest_apiserver.py) starts one server per session; each
test works in its own namespace so the tests stay independent. The objects go through
``for_kubernetes_1_20`` (autoscaling/v2 -> v2beta2, policy/v1 -> v1beta1), see tools/testing/k8s_objects.py.
"""

from __future__ import annotations

import itertools

import pytest
from lightkube import Client, KubeConfig
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Namespace, Service, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

from tools.deploy import kubernetes as cluster
from tools.errors import UserError
from tools.testing.k8s_objects import TEST_IMAGE, for_kubernetes_1_20, model_objects, platform_objects

pytestmark = pytest.mark.slow
_names = itertools.count()


@pytest.fixture
def namespace() -> str:
    return f"cf-test-{next(_names)}"


@pytest.fixture
def kube(apiserver) -> Client:
    """A plain lightkube client, to look at the server independently of the code under test."""
    with Client(config=KubeConfig.from_file(apiserver)) as client:
        yield client


def rendered(namespace: str, *models: str, **kwargs) -> list[dict]:
    objects = platform_objects(namespace)
    for model in models:
        objects += model_objects(model, namespace, **kwargs)
    return for_kubernetes_1_20(objects)


def names(client: Client, resource, namespace: str) -> set[str]:
    return {obj.metadata.name for obj in client.list(resource, namespace=namespace)}


def test_apply_creates_everything_in_order_and_then_diff_is_empty(apiserver, kube, namespace):
    objects = rendered(namespace, "yolo")
    lines = []

    changes = cluster.apply(objects, kubeconfig=apiserver, progress=lines.append)

    assert [(c.action, c.kind) for c in changes] == [
        ("create", "Namespace"), ("create", "ServiceAccount"), ("create", "Role"), ("create", "RoleBinding"),
        ("create", "ConfigMap"), ("create", "Deployment"), ("create", "Service"),
        ("create", "PodDisruptionBudget"), ("create", "HorizontalPodAutoscaler"),
    ]  # fmt: skip
    assert lines == [str(c) for c in changes]
    deployment = kube.get(Deployment, "yolo", namespace=namespace)
    assert deployment.spec.template.spec.containers[0].image == TEST_IMAGE
    assert {f.manager for f in deployment.metadata.managedFields} == {cluster.FIELD_MANAGER}
    assert cluster.diff(objects, kubeconfig=apiserver) == []
    again = cluster.apply(objects, kubeconfig=apiserver)
    assert {c.action for c in again} == {"unchanged"}


def test_diff_shows_a_change_and_writes_nothing_until_apply(apiserver, kube, namespace):
    cluster.apply(rendered(namespace, "yolo"), kubeconfig=apiserver)
    changed = rendered(namespace, "yolo", replicas=2)
    configmap = next(o for o in changed if o["kind"] == "ConfigMap")
    configmap["data"]["LOG_LEVEL"] = "debug"

    changes = cluster.diff(changed, kubeconfig=apiserver)

    assert [str(c) for c in changes] == [
        f"update ConfigMap {namespace}/yolo-config: data.LOG_LEVEL",
        f"update Deployment {namespace}/yolo: spec.replicas",
    ]
    assert kube.get(ConfigMap, "yolo-config", namespace=namespace).data["LOG_LEVEL"] == "info"
    cluster.apply(changed, kubeconfig=apiserver)
    assert kube.get(ConfigMap, "yolo-config", namespace=namespace).data["LOG_LEVEL"] == "debug"
    assert kube.get(Deployment, "yolo", namespace=namespace).spec.replicas == 2
    assert cluster.diff(changed, kubeconfig=apiserver) == []


def test_dry_run_apply_reports_creates_and_writes_nothing(apiserver, kube, namespace):
    changes = cluster.apply(rendered(namespace, "yolo"), kubeconfig=apiserver, dry_run=True)

    assert len(changes) == 9 and {c.action for c in changes} == {"create"}
    assert namespace not in names(kube, Namespace, None)


def test_dry_run_apply_into_an_existing_namespace_is_checked_by_the_server(apiserver, kube, namespace):
    cluster.apply(rendered(namespace), kubeconfig=apiserver)  # the shared objects only
    bad = rendered(namespace, "yolo")
    next(o for o in bad if o["kind"] == "Deployment")["spec"]["replicas"] = -1

    with pytest.raises(UserError, match=r"Deployment yolo .*rejected.*replicas.*-1"):
        cluster.apply(bad, kubeconfig=apiserver, dry_run=True)
    assert names(kube, Deployment, namespace) == set()


def test_apply_prunes_the_models_objects_that_are_no_longer_rendered(apiserver, kube, namespace):
    cluster.apply(rendered(namespace, "yolo"), kubeconfig=apiserver)
    cluster.apply(rendered(namespace, "gpt2"), kubeconfig=apiserver)
    without_service = [o for o in rendered(namespace, "yolo") if o["kind"] != "Service"]

    assert [str(c) for c in cluster.diff(without_service, kubeconfig=apiserver)] == [
        f"delete Service {namespace}/yolo"
    ]
    changes = cluster.apply(without_service, kubeconfig=apiserver)

    assert changes[-1] == cluster.Change("delete", "Service", "yolo", namespace)
    assert names(kube, Service, namespace) == {"gpt2"}  # the other model's Service stays
    assert names(kube, Deployment, namespace) == {"yolo", "gpt2"}
    assert cluster.diff(without_service, kubeconfig=apiserver) == []


def test_apply_without_prune_keeps_leftovers(apiserver, kube, namespace):
    cluster.apply(rendered(namespace, "yolo"), kubeconfig=apiserver)
    without_service = [o for o in rendered(namespace, "yolo") if o["kind"] != "Service"]

    cluster.apply(without_service, kubeconfig=apiserver, prune=False)

    assert names(kube, Service, namespace) == {"yolo"}


def test_delete_removes_exactly_that_models_objects(apiserver, kube, namespace):
    cluster.apply(rendered(namespace, "yolo"), kubeconfig=apiserver)
    cluster.apply(rendered(namespace, "gpt2"), kubeconfig=apiserver)

    changes = cluster.delete(rendered(namespace, "yolo"), kubeconfig=apiserver)

    assert [(c.kind, c.name) for c in changes] == [
        ("HorizontalPodAutoscaler", "yolo"), ("PodDisruptionBudget", "yolo"), ("Service", "yolo"),
        ("Deployment", "yolo"), ("ConfigMap", "yolo-config"),
    ]  # fmt: skip
    assert names(kube, Deployment, namespace) == {"gpt2"}
    assert names(kube, ConfigMap, namespace) == {"gpt2-config"}  # no controller adds kube-root-ca.crt here
    assert names(kube, Service, namespace) == {"gpt2"}
    # the shared objects stay: other models use them
    assert "ai-model-server-sa" in names(kube, ServiceAccount, namespace)
    assert names(kube, Role, namespace) == {"ai-model-server-role"}
    assert names(kube, RoleBinding, namespace) == {"ai-model-server-rb"}
    assert cluster.delete(rendered(namespace, "yolo"), kubeconfig=apiserver) == []  # nothing left


def test_delete_by_labels_and_with_the_shared_objects(apiserver, kube, namespace):
    cluster.apply(rendered(namespace, "yolo"), kubeconfig=apiserver)
    labels = {cluster.INSTANCE: "yolo", cluster.MANAGED_BY: "servectl"}

    planned = cluster.delete(labels, kubeconfig=apiserver, namespace=namespace, dry_run=True)
    assert len(planned) == 5 and names(kube, Deployment, namespace) == {"yolo"}
    assert cluster.delete(labels, kubeconfig=apiserver, namespace=namespace) == planned
    assert names(kube, Deployment, namespace) == set()

    shared = cluster.delete(rendered(namespace, "yolo"), kubeconfig=apiserver, include_shared=True)
    assert [c.kind for c in shared] == ["RoleBinding", "Role", "ServiceAccount", "Namespace"]
    assert names(kube, Role, namespace) == set()
    # no namespace controller runs here, so the namespace stays Terminating instead of vanishing
    assert kube.get(Namespace, namespace).status.phase == "Terminating"


def test_status_reports_replicas_image_and_endpoint(apiserver, namespace):
    objects = rendered(namespace, "yolo", replicas=2)
    cluster.apply(objects, kubeconfig=apiserver)

    status = cluster.status(objects, kubeconfig=apiserver)

    (deployment,) = status.deployments
    assert (deployment.name, deployment.desired, deployment.ready, deployment.rolled_out) == (
        "yolo",
        2,
        0,
        False,
    )
    assert deployment.images == (TEST_IMAGE,)
    assert deployment.running_image_ids == ()  # no kubelet, no pods
    (service,) = status.services
    assert service.ports == ("http=80/TCP",) and service.cluster_ip.startswith("10.96.")
    assert str(service).startswith(f"service yolo.{namespace}.svc (cluster IP 10.96.")
    assert not status.ready


def test_wait_ready_times_out_with_progress_lines(apiserver, namespace):
    objects = rendered(namespace, "yolo")
    cluster.apply(objects, kubeconfig=apiserver)
    lines = []

    with pytest.raises(cluster.RolloutTimeout, match=r"not ready after 0.5 s: yolo 0/1 ready") as raised:
        cluster.wait_ready(objects, kubeconfig=apiserver, timeout=0.5, interval=0.1, progress=lines.append)

    assert lines == [
        f"deployment {namespace}/yolo: 0/1 ready, 0 updated; image {TEST_IMAGE}; running: no pods running"
    ]
    assert raised.value.status.deployments[0].ready == 0


def test_wait_ready_returns_when_the_rollout_is_reported_done(apiserver, kube, namespace):
    objects = rendered(namespace, "yolo")
    cluster.apply(objects, kubeconfig=apiserver)
    # No controller-manager runs here: report the rollout the way the deployment controller would.
    generation = kube.get(Deployment, "yolo", namespace=namespace).metadata.generation
    done = {"observedGeneration": generation, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
            "availableReplicas": 1}  # fmt: skip
    kube.patch(Deployment.Status, "yolo", {"status": done}, namespace=namespace)
    lines = []

    status = cluster.wait_ready(objects, kubeconfig=apiserver, timeout=5, interval=0.1, progress=lines.append)

    assert status.ready and lines[0].startswith(f"deployment {namespace}/yolo: 1/1 ready")


def test_status_and_delete_read_only_labels_from_an_unresolved_rendering(apiserver, kube, namespace):
    cluster.apply(rendered(namespace, "yolo"), kubeconfig=apiserver)
    # As `servectl delete` passes them: newest API versions (not all served by v1.20), image labels.
    unresolved = platform_objects(namespace) + model_objects("yolo", namespace, image="//models/yolo:image")

    assert cluster.status(unresolved, kubeconfig=apiserver).deployments[0].images == (TEST_IMAGE,)
    assert len(cluster.delete(unresolved, kubeconfig=apiserver)) == 5
    assert names(kube, Deployment, namespace) == set()


def test_apply_takes_back_a_field_another_manager_changed(apiserver, kube, namespace):
    objects = rendered(namespace, "yolo")
    cluster.apply(objects, kubeconfig=apiserver)
    # Someone edits the live object by hand (a merge patch under another field manager).
    kube.patch(ConfigMap, "yolo-config", {"data": {"LOG_LEVEL": "debug"}}, namespace=namespace,
               field_manager="kubectl-edit")  # fmt: skip

    assert [str(c) for c in cluster.diff(objects, kubeconfig=apiserver)] == [
        f"update ConfigMap {namespace}/yolo-config: data.LOG_LEVEL"
    ]
    with pytest.raises(UserError, match=r"ConfigMap yolo-config .*rejected.*conflict.*kubectl-edit"):
        cluster.apply(objects, kubeconfig=apiserver, force=False)
    cluster.apply(objects, kubeconfig=apiserver)  # force (the default): the repo is the source of truth
    assert kube.get(ConfigMap, "yolo-config", namespace=namespace).data["LOG_LEVEL"] == "info"
