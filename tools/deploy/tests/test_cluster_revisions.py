"""Revisions and automatic rollback against a REAL kube-apiserver (v1.20, with etcd).

There is no controller-manager or kubelet here, so nothing ever runs a pod. A stand-in kubelet
thread plays their part the only way the server can see it: it patches the Deployment's status as
the deployment controller would report a finished rollout, and only for the images the test calls
good. A "bad" image is simply never reported ready, which is what the code under test sees on a
real cluster when a new version crash-loops or fails its readiness probe.
"""

from __future__ import annotations

import itertools
import threading

import pytest
from lightkube import ApiError, Client, KubeConfig
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap

from tools.deploy import kubernetes as cluster
from tools.deploy.kubernetes import revisions
from tools.errors import UserError
from tools.testing.k8s_objects import TEST_IMAGE, for_kubernetes_1_20, model_objects, platform_objects

pytestmark = pytest.mark.slow
_names = itertools.count()
LABEL = "//models/yolo:image"
GOOD = TEST_IMAGE
GOOD2, BAD = TEST_IMAGE.replace("ab" * 32, "cd" * 32), TEST_IMAGE.replace("ab" * 32, "ef" * 32)


def digest(image: str) -> str:
    return image.rsplit("@", 1)[1]


@pytest.fixture
def namespace() -> str:
    return f"cf-rev-{next(_names)}"


@pytest.fixture
def kube(apiserver) -> Client:
    with Client(config=KubeConfig.from_file(apiserver)) as client:
        yield client


@pytest.fixture
def kubelet(kube, namespace):
    """Reports a rollout finished whenever the Deployment's template names a good image."""
    good, stop = {GOOD, GOOD2}, threading.Event()

    def run():
        while not stop.wait(0.1):
            try:
                live = kube.get(Deployment, "yolo", namespace=namespace)
            except ApiError:  # not created yet
                continue
            image = live.spec.template.spec.containers[0].image
            done = live.status and live.status.observedGeneration == live.metadata.generation
            if image in good and not done:
                status = {"observedGeneration": live.metadata.generation, "replicas": 1,
                          "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}  # fmt: skip
                kube.patch(Deployment.Status, "yolo", {"status": status}, namespace=namespace)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def objects(namespace: str, image: str) -> list[dict]:
    return for_kubernetes_1_20(platform_objects(namespace) + model_objects("yolo", namespace, image=image))


def apply(apiserver, namespace: str, image: str, timeout: float = 10) -> revisions.Revision:
    with cluster.connect(apiserver) as connected:
        rendered, digests = objects(namespace, image), {LABEL: digest(image)}
        return revisions.apply_recorded(connected, "yolo", rendered, digests, timeout=timeout, interval=0.1)


def live_image(kube, namespace: str) -> str:
    return kube.get(Deployment, "yolo", namespace=namespace).spec.template.spec.containers[0].image


def history(apiserver, namespace: str) -> list[revisions.Revision]:
    with cluster.connect(apiserver) as connected:
        return revisions.History(connected, "yolo", namespace).revisions()


def test_a_rollout_that_never_gets_ready_is_rolled_back_to_the_last_good_revision(
    apiserver, kube, namespace, kubelet
):
    first = apply(apiserver, namespace, GOOD)
    assert (first.number, first.digests) == (1, {LABEL: digest(GOOD)})
    stored = kube.get(ConfigMap, "yolo-revisions", namespace=namespace)
    assert "app.kubernetes.io/instance" not in stored.metadata.labels  # prune must never take it

    with pytest.raises(UserError, match=r"not ready after 2 s.*rolled back to revision 1, ready again"):
        apply(apiserver, namespace, BAD, timeout=2)

    assert live_image(kube, namespace) == GOOD
    assert [(r.number, r.rollback_of, r.digests[LABEL]) for r in history(apiserver, namespace)] == [
        (1, None, digest(GOOD)),
        (2, 1, digest(GOOD)),  # the rollback is a revision of its own, as with kubectl rollout undo
    ]
    # The history survives prune (a later apply) and the model's delete.
    apply(apiserver, namespace, GOOD2)
    cluster.delete(objects(namespace, GOOD2), kubeconfig=apiserver)
    assert [r.number for r in history(apiserver, namespace)] == [1, 2, 3]


def test_rollback_by_hand_to_the_previous_or_a_given_revision(apiserver, kube, namespace, kubelet):
    apply(apiserver, namespace, GOOD)
    apply(apiserver, namespace, GOOD2)
    assert live_image(kube, namespace) == GOOD2
    with cluster.connect(apiserver) as connected:
        back = revisions.rollback(connected, "yolo", namespace, timeout=10, interval=0.1)
        assert (back.number, back.rollback_of) == (3, 1) and live_image(kube, namespace) == GOOD
        again = revisions.rollback(connected, "yolo", namespace, to=2, timeout=10, interval=0.1)
        assert (again.number, again.rollback_of) == (4, 2) and live_image(kube, namespace) == GOOD2
        with pytest.raises(UserError, match=r"has no revision 9 on the cluster \(kept: 1, 2, 3, 4\)"):
            revisions.rollback(connected, "yolo", namespace, to=9, timeout=1)


def test_a_first_rollout_that_never_gets_ready_says_there_is_nothing_to_go_back_to(
    apiserver, kube, namespace, kubelet
):
    with pytest.raises(UserError, match=r"not ready after 1 s.*no earlier good revision to roll back to"):
        apply(apiserver, namespace, BAD, timeout=1)
    assert history(apiserver, namespace) == []
