"""The real rendered manifests (tools.k8s.render.resolve) of all three models, on the real API server.

The ServiceMonitor and PrometheusRule CRDs (ours, tools/k8s/checks/monitoring_crds.py) are
installed first, as a cluster with prometheus-operator would have them. Objects go through
``for_kubernetes_1_20`` (HPA/PDB versions) and the CRDs through ``install_crd`` (see
tools/testing/k8s_objects.py) because the only API server buildable here is v1.20.
"""

from __future__ import annotations

import pytest
from lightkube import Client, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ServiceAccount

from tools.deploy import kubernetes as cluster
from tools.k8s.checks.monitoring_crds import crds
from tools.k8s.render.resolve import resolve
from tools.k8s.schema.catalog import Catalog
from tools.testing.k8s_objects import for_kubernetes_1_20, install_crd

pytestmark = pytest.mark.slow
MODELS = ("yolo", "gpt2", "resnet50")
ServiceMonitor = create_namespaced_resource(
    "monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"
)


def digest(model: str) -> str:
    """A fixed, well-formed digest per model: the API server stores image references, never pulls."""
    return "sha256:" + format(MODELS.index(model) + 1, "x") * 64


def manifests(model: str, env: str = "staging") -> list[dict]:
    variants = Catalog().image_labels(model)  # whichever the environment picks, verifiers too
    return for_kubernetes_1_20(resolve(model, env, digests={str(label): digest(model) for label in variants}))


@pytest.fixture(scope="module")
def kube(apiserver) -> Client:
    for crd in crds():  # cluster-wide, as a cluster's Prometheus Operator has them
        install_crd(apiserver, crd)
    with Client(config=KubeConfig.from_file(apiserver)) as client:
        yield client


@pytest.mark.parametrize("model", MODELS)
def test_rendered_model_applies_and_then_diff_is_empty(apiserver, kube, model):
    changes = cluster.apply(manifests(model), kubeconfig=apiserver)

    assert [c.kind for c in changes][-5:] == [
        "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ServiceMonitor", "PrometheusRule"
    ]  # fmt: skip
    assert cluster.diff(manifests(model), kubeconfig=apiserver) == []
    (deployment,) = cluster.status(manifests(model), kubeconfig=apiserver).deployments
    assert deployment.images == tuple(_images(model))
    # staging gives gpt2 and resnet50 a GPU: their GPU variant; yolo and yolo-torchserve run on CPU.
    variant = "image_gpu" if model in ("gpt2", "resnet50") else "image"
    assert deployment.images[0].endswith(f"/models/{model.replace('-', '_')}/{variant}@{digest(model)}")


def test_deleting_one_model_leaves_the_others_and_the_shared_objects(apiserver, kube):
    for model in MODELS:
        cluster.apply(manifests(model), kubeconfig=apiserver)

    deleted = cluster.delete(manifests("gpt2"), kubeconfig=apiserver)

    assert {c.name for c in deleted} == {"gpt2", "gpt2-config", "gpt2-dashboard", "gpt2-prometheus-adapter"}
    assert {c.kind for c in deleted} >= {"PrometheusRule", "ServiceMonitor"}
    namespace = manifests("yolo")[0]["metadata"]["name"]
    assert {d.metadata.name for d in kube.list(Deployment, namespace=namespace)} == {"yolo", "resnet50"}
    assert {m.metadata.name for m in kube.list(ServiceMonitor, namespace=namespace)} == {"yolo", "resnet50"}
    assert "ai-model-server-sa" in {sa.metadata.name for sa in kube.list(ServiceAccount, namespace=namespace)}
    for model in ("yolo", "resnet50"):
        assert cluster.diff(manifests(model), kubeconfig=apiserver) == [], model


def test_switching_environment_shows_the_differences(apiserver, kube):
    cluster.apply(manifests("resnet50", "staging"), kubeconfig=apiserver)

    changes = cluster.diff(manifests("resnet50", "prod"), kubeconfig=apiserver)

    assert changes, "prod and staging render the same resnet50"
    assert {c.action for c in changes} <= {"update", "create", "delete"}
    assert all(c.kind not in cluster.SHARED_KINDS or c.action != "delete" for c in changes)


def _images(model: str) -> list[str]:
    deployment = next(o for o in manifests(model) if o["kind"] == "Deployment")
    return [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
