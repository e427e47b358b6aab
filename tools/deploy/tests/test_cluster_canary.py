"""A canary Deployment on a REAL kube-apiserver (v1.20, with etcd), tools/deploy/kubernetes/canary.py.

No controller-manager or kubelet runs here: a stand-in thread reports a Deployment rolled out when
its template names a good image (as in test_cluster_revisions.py). The API server's pod proxy
dials a pod's IP, which only a kubelet gives a pod, so here it can only refuse: the test that
reads through it checks that a canary whose metrics cannot be read is rolled back. The windows
that promote and that breach a threshold read the fastapi runtime's real /metrics text
(prometheus-client writing the runtime's own collectors), handed over in place of the pod
proxy's HTTP GET; the parsing and the decision are the real ones.
"""

from __future__ import annotations

import contextlib
import itertools
import threading

import pytest
from lightkube import ApiError, Client, KubeConfig
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod
from prometheus_client import CollectorRegistry, Counter, generate_latest

from tools.deploy import kubernetes as cluster
from tools.deploy.kubernetes import canary, revisions
from tools.errors import UserError
from tools.k8s.label_keys import TRACK
from tools.k8s.schema.catalog import Catalog
from tools.k8s.schema.environments import CanaryPolicy
from tools.testing.k8s_objects import TEST_IMAGE, for_kubernetes_1_20, model_objects, platform_objects

pytestmark = pytest.mark.slow
_names = itertools.count()
GOOD, NEW = TEST_IMAGE, TEST_IMAGE.replace("ab" * 32, "cd" * 32)
BAD = TEST_IMAGE.replace("ab" * 32, "ef" * 32)
POLICY = CanaryPolicy(windowSeconds=0.5, maxErrorRatio=0.05, minRequests=5)
FASTAPI = Catalog().runtime_metrics("fastapi")  # what yolo's runtime counts as requests and errors


@pytest.fixture
def namespace() -> str:
    return f"cf-canary-{next(_names)}"


@pytest.fixture
def kube(apiserver) -> Client:
    with Client(config=KubeConfig.from_file(apiserver)) as client:
        yield client


@pytest.fixture
def kubelet(kube, namespace):
    """Reports every Deployment of the namespace rolled out when its template names a good image,
    and gives a canary Deployment its pods (as its ReplicaSet would; they never run)."""
    stop = threading.Event()

    def run():
        while not stop.wait(0.05):
            for live in kube.list(Deployment, namespace=namespace):
                if live.metadata.name.endswith("-canary"):
                    with contextlib.suppress(ApiError):  # already there
                        pod = {"metadata": {"name": f"{live.metadata.name}-0", "namespace": namespace,
                                            "labels": live.spec.template.metadata.labels},
                               "spec": live.spec.template.spec.to_dict()}  # fmt: skip
                        kube.create(Pod.from_dict(pod))
                image = live.spec.template.spec.containers[0].image
                done = live.status and live.status.observedGeneration == live.metadata.generation
                if image in (GOOD, NEW) and not done:
                    n = live.spec.replicas
                    status = {"observedGeneration": live.metadata.generation, "replicas": n,
                              "updatedReplicas": n, "readyReplicas": n, "availableReplicas": n}  # fmt: skip
                    with contextlib.suppress(ApiError):  # deleted meanwhile
                        kube.patch(
                            Deployment.Status, live.metadata.name, {"status": status}, namespace=namespace
                        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def objects(namespace: str, image: str, replicas: int = 3) -> list[dict]:
    rendered = model_objects("yolo", namespace, image=image, replicas=replicas)
    return for_kubernetes_1_20(platform_objects(namespace) + rendered)


def deployments(kube, namespace) -> dict[str, str]:
    return {
        d.metadata.name: d.spec.template.spec.containers[0].image
        for d in kube.list(Deployment, namespace=namespace)
    }


def metrics_of(status: int):
    """In place of the pod proxy's GET: exposition text (prometheus-client's) of the fastapi
    runtime's request counter after 10 more /predict answers with ``status`` at each read."""
    registry = CollectorRegistry()
    requests = Counter("model_server_requests", "answers", ["route", "method", "status"], registry=registry)

    def read(_cluster, _namespace, _pod, _port, _path) -> str:
        requests.labels(route="/predict", method="POST", status=str(status)).inc(10)
        return generate_latest(registry).decode()

    return read


def serving(apiserver, namespace):
    with cluster.connect(apiserver) as connected:
        revisions.apply_recorded(connected, "yolo", objects(namespace, GOOD), {}, timeout=10, interval=0.1)


def test_the_canary_deployment_shares_the_service_and_is_sized_by_percent(
    apiserver, kube, namespace, kubelet
):
    serving(apiserver, namespace)
    body = canary.canary_deployment(objects(namespace, NEW, replicas=3), 25)
    assert body["metadata"]["name"] == "yolo-canary" and body["spec"]["replicas"] == 1
    assert canary.canary_deployment(objects(namespace, NEW, replicas=4), 50)["spec"]["replicas"] == 4
    service = next(o for o in objects(namespace, NEW) if o["kind"] == "Service")
    pod_labels = body["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()  # the Service sends it requests
    assert body["spec"]["selector"]["matchLabels"][TRACK] == "canary" == pod_labels[TRACK]
    with cluster.connect(apiserver) as connected:  # the server accepts it beside the stable one
        found = canary.judge(connected, objects(namespace, NEW), 25, POLICY, FASTAPI, timeout=5, interval=0.1,
                             read=metrics_of(200))  # fmt: skip
    assert found is None
    assert deployments(kube, namespace)["yolo-canary"] == NEW  # left for apply to prune


def test_promoted_canary_is_pruned_as_the_stable_deployment_rolls_to_it(apiserver, kube, namespace, kubelet):
    serving(apiserver, namespace)
    with cluster.connect(apiserver) as connected:
        new = objects(namespace, NEW)
        read = metrics_of(200)
        assert canary.judge(connected, new, 25, POLICY, FASTAPI, timeout=5, interval=0.1, read=read) is None
        revisions.apply_recorded(connected, "yolo", new, {}, timeout=10, interval=0.1)
    assert deployments(kube, namespace) == {"yolo": NEW}


def test_a_failing_canary_is_deleted_naming_the_threshold_and_the_stable_one_is_untouched(
    apiserver, kube, namespace, kubelet
):
    serving(apiserver, namespace)
    before = kube.get(Deployment, "yolo", namespace=namespace).metadata.resourceVersion
    with cluster.connect(apiserver) as connected:
        found = canary.judge(connected, objects(namespace, NEW), 25, POLICY, FASTAPI, timeout=5, interval=0.1,
                             read=metrics_of(500))  # fmt: skip
    assert found == "maxErrorRatio 0.05 breached: 1.000 (10 of 10 requests were errors)"
    assert deployments(kube, namespace) == {"yolo": GOOD}
    assert kube.get(Deployment, "yolo", namespace=namespace).metadata.resourceVersion == before


def test_a_canary_never_ready_is_deleted(apiserver, kube, namespace, kubelet):
    serving(apiserver, namespace)
    with cluster.connect(apiserver) as connected:
        found = canary.judge(connected, objects(namespace, BAD), 25, POLICY, FASTAPI, timeout=1, interval=0.1)
    assert found.startswith("the canary was not ready after 1 s: yolo-canary 0/1 ready"), found
    assert deployments(kube, namespace) == {"yolo": GOOD}


def test_metrics_read_through_the_real_pod_proxy_or_the_canary_is_rolled_back(
    apiserver, kube, namespace, kubelet
):
    """The API server's pod proxy, as servectl calls it: with no kubelet the pod has no IP, and the
    server refuses; what is asserted is that the request reaches the real proxy subresource and
    that an unreadable canary is never promoted."""
    serving(apiserver, namespace)
    with cluster.connect(apiserver) as connected:
        found = canary.judge(connected, objects(namespace, NEW), 25, POLICY, FASTAPI, timeout=5, interval=0.1)
        with pytest.raises(UserError, match="needs the model rolled out"):
            canary.judge(connected, objects(f"{namespace}-absent", NEW), 25, POLICY, FASTAPI, timeout=1)
    assert found.startswith(
        "its /metrics could not be read: pod proxy to yolo-canary-0:8000/metrics answered"
    ), found
    assert deployments(kube, namespace) == {"yolo": GOOD}
