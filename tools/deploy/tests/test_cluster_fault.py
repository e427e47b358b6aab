"""The API server dies in the middle of an apply: a clear error saying what was applied, nothing
reported as done that was not, and apply converges once the server is back.

Its own real kube-apiserver (tools/testing/apiserver), killed with SIGKILL from apply's progress
callback right after the Nth object was written (so the crash lands between two writes every time,
never by timing), then started again on the same port, certificates and etcd.
"""

from __future__ import annotations

import re

import pytest
from lightkube import ApiError, Client, KubeConfig

from tools.deploy import kubernetes as cluster
from tools.errors import UserError
from tools.k8s.checks.monitoring_crds import crds
from tools.k8s.render.resolve import resolve
from tools.testing.apiserver import running_apiserver
from tools.testing.k8s_objects import for_kubernetes_1_20, install_crd
from tools.testing.pytest_apiserver import require_binaries

pytestmark = pytest.mark.slow
DIGEST = "sha256:" + "9" * 64
KILL_AFTER = 6  # Namespace, ServiceAccount, Role, RoleBinding, default-deny, the model's NetworkPolicy


@pytest.fixture
def server(tmp_path):
    require_binaries()  # skips, saying how to build them; fails under CI=true
    with running_apiserver(tmp_path / "apiserver") as server:
        for crd in crds():  # the kinds prometheus-operator installs
            install_crd(server.kubeconfig, crd)
        yield server


def manifests() -> list[dict]:
    return for_kubernetes_1_20(resolve("yolo", "staging", digests={"//models/yolo:image": DIGEST}))


def live(server, objects: list[dict]) -> list[str]:
    """``Kind/name`` of each of ``objects`` the server has."""
    found = []
    with cluster.connect(server.kubeconfig) as connected:
        for obj in objects:
            resource = connected.resource(obj["apiVersion"], obj["kind"])
            try:
                connected.client.get(
                    resource, obj["metadata"]["name"], namespace=obj["metadata"].get("namespace")
                )
            except ApiError as error:
                assert error.status.code == 404, error
                continue
            found.append(f"{obj['kind']}/{obj['metadata']['name']}")
    return found


def test_server_killed_mid_apply_says_what_was_applied_and_rerun_converges(server):
    objects = manifests()
    reported = []

    def progress(line: str) -> None:
        reported.append(line)
        if len(reported) == KILL_AFTER:
            server.kill()

    with pytest.raises(UserError) as error:
        cluster.apply(objects, kubeconfig=server.kubeconfig, progress=progress)

    message = str(error.value)
    assert "\n" not in message and "lost the API server while applying" in message, message
    assert "nothing was pruned" in message and "run apply again" in message
    applied = re.search(r"applied before it: ([^;]+);", message).group(1).split(", ")
    assert len(applied) == KILL_AFTER == len(reported), "only what was written is reported as applied"
    assert server.pid is None

    server.start()
    assert live(server, objects) == applied, "exactly what the error named is on the server"

    again = cluster.apply(objects, kubeconfig=server.kubeconfig)

    assert [c.action for c in again[:KILL_AFTER]] == ["unchanged"] * KILL_AFTER
    assert {c.action for c in again[KILL_AFTER:]} == {"create"}
    assert len(live(server, objects)) == len(objects)
    assert cluster.diff(objects, kubeconfig=server.kubeconfig) == []


def test_server_gone_before_apply_starts_is_one_line_and_nothing_changes(server):
    server.kill()

    with pytest.raises(UserError, match=r"cannot reach the API server .*nothing was sent"):
        cluster.apply(manifests(), kubeconfig=server.kubeconfig)

    server.start()
    with Client(config=KubeConfig.from_file(server.kubeconfig)) as client:
        from lightkube.resources.core_v1 import Namespace

        assert "creativeflow-ai-serving" not in {ns.metadata.name for ns in client.list(Namespace)}
