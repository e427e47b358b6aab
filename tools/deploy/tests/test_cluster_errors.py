"""Bad input to the cluster verbs: one clear UserError each, and nothing sent or changed.

Uses the real API server (tools/testing/pytest_apiserver.py) to prove nothing changed; the
unreachable-server case points at a loopback port where nothing listens.
"""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.resources.core_v1 import ConfigMap, Namespace

from tools.deploy import kubernetes as cluster
from tools.errors import UserError
from tools.testing.apiserver import free_port
from tools.testing.k8s_objects import for_kubernetes_1_20, model_objects, platform_objects

_names = itertools.count()


@pytest.fixture
def namespace() -> str:
    return f"cf-bad-{next(_names)}"


@pytest.fixture
def kube(apiserver) -> Client:
    with Client(config=KubeConfig.from_file(apiserver)) as client:
        yield client


def rendered(namespace: str) -> list[dict]:
    return for_kubernetes_1_20(platform_objects(namespace) + model_objects("yolo", namespace))


def namespaces(client: Client) -> set[str]:
    return {ns.metadata.name for ns in client.list(Namespace)}


def edited_kubeconfig(apiserver: Path, tmp_path: Path, edit) -> Path:
    config = yaml.safe_load(apiserver.read_text())
    edit(config)
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def kubeconfig_for(server: str, tmp_path: Path) -> Path:
    """A token kubeconfig for ``server`` (TLS not verified: these servers never get that far)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_no_kubeconfig_fails_before_anything_is_sent(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config either

    with pytest.raises(UserError, match="no kubeconfig") as raised:
        cluster.apply(rendered("x"))
    assert raised.value.file == str(tmp_path / ".kube" / "config")

    with pytest.raises(UserError, match="no kubeconfig"):
        cluster.diff(rendered("x"), kubeconfig=tmp_path / "missing.yaml")


def test_unreachable_server_fails_before_anything_is_sent(tmp_path):
    dead = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    kubeconfig = kubeconfig_for(dead, tmp_path)
    for verb in (cluster.apply, cluster.diff, cluster.delete, cluster.status):
        with pytest.raises(UserError, match=f"cannot reach the API server at {dead}.*nothing was sent"):
            verb(rendered("x"), kubeconfig=kubeconfig)


def test_server_that_accepts_connections_but_never_answers_times_out(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster.client, "TIMEOUT_S", 0.5)  # read by connect()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel accepts the TCP connection; nobody ever answers the TLS hello
        port = silent.getsockname()[1]
        kubeconfig = kubeconfig_for(f"https://127.0.0.1:{port}", tmp_path)
        with pytest.raises(UserError, match=f"cannot reach the API server at https://127.0.0.1:{port}"):
            cluster.apply(rendered("x"), kubeconfig=kubeconfig)


def test_unknown_context_names_the_kubeconfig(tmp_path):
    kubeconfig = kubeconfig_for(f"https://127.0.0.1:{free_port()}", tmp_path)
    with pytest.raises(UserError, match=r"unusable kubeconfig.*nope") as raised:
        cluster.apply(rendered("x"), kubeconfig=kubeconfig, context="nope")
    assert raised.value.file == str(kubeconfig)


def test_kubeconfig_that_is_not_yaml(tmp_path):
    bad = tmp_path / "kubeconfig"
    bad.write_text("clusters: [\n")
    with pytest.raises(UserError, match="kubeconfig") as raised:
        cluster.apply([], kubeconfig=bad)
    assert raised.value.file == str(bad)


@pytest.mark.slow
def test_wrong_token_is_refused_and_nothing_changes(apiserver, kube, tmp_path, namespace):
    def wrong_token(config):
        config["users"][0]["user"]["token"] = "not-the-token"

    kubeconfig = edited_kubeconfig(apiserver, tmp_path, wrong_token)
    with pytest.raises(UserError, match="refused our credentials \\(401\\)"):
        cluster.apply(rendered(namespace), kubeconfig=kubeconfig)
    assert namespace not in namespaces(kube)


@pytest.mark.slow
def test_kind_the_server_does_not_serve_fails_before_anything_is_sent(apiserver, kube, namespace):
    objects = platform_objects(namespace) + model_objects("yolo", namespace)  # policy/v1: not in 1.20

    with pytest.raises(
        UserError, match=r"\(v1.20.2\) does not serve PodDisruptionBudget in policy/v1;"
    ) as raised:
        cluster.apply(objects, kubeconfig=apiserver)
    assert raised.value.field == "objects[7].apiVersion"
    assert namespace not in namespaces(kube)


@pytest.mark.slow
def test_rejected_object_stops_with_the_servers_message_and_nothing_applied(apiserver, kube, namespace):
    cluster.apply(for_kubernetes_1_20(platform_objects(namespace)), kubeconfig=apiserver)
    bad = rendered(namespace)
    next(o for o in bad if o["kind"] == "Deployment")["spec"]["bogusField"] = 1

    with pytest.raises(UserError, match=r"apps/v1 Deployment yolo in namespace .* rejected.*bogusField"):
        cluster.apply(bad, kubeconfig=apiserver)
    # everything was dry-run first: the ConfigMap ordered before the Deployment was not written
    assert not list(kube.list(ConfigMap, namespace=namespace, labels={cluster.INSTANCE: "yolo"}))


@pytest.mark.slow
def test_rejection_in_a_new_namespace_keeps_what_was_applied_and_prunes_nothing(apiserver, kube, namespace):
    # Into a namespace that does not exist yet the server cannot dry-run, so the rejection comes
    # during the real apply: the objects before it stay applied, complete, and nothing is pruned.
    bad = rendered(namespace)
    next(o for o in bad if o["kind"] == "Service")["spec"]["ports"][0]["port"] = 70000

    with pytest.raises(UserError, match=r"v1 Service yolo .*rejected.*70000.*applied before it: Namespace/"):
        cluster.apply(bad, kubeconfig=apiserver)
    assert kube.get(ConfigMap, "yolo-config", namespace=namespace).data["MODEL_NAME"] == "yolo"


@pytest.mark.slow
def test_objects_that_are_not_objects(apiserver):
    with pytest.raises(UserError, match=r"needs apiVersion, kind and metadata.name") as raised:
        cluster.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}], kubeconfig=apiserver)
    assert raised.value.field == "objects[0]"
    with pytest.raises(UserError, match="not a Kubernetes object"):
        cluster.apply(["kind: ConfigMap"], kubeconfig=apiserver)


@pytest.mark.slow
def test_model_objects_without_the_prune_labels_are_refused(apiserver, namespace):
    objects = rendered(namespace)
    del next(o for o in objects if o["kind"] == "Service")["metadata"]["labels"][cluster.INSTANCE]

    with pytest.raises(UserError, match=r"same app.kubernetes.io/instance and app.kubernetes.io/managed-by"):
        cluster.apply(objects, kubeconfig=apiserver)


@pytest.mark.slow
def test_namespaced_object_without_namespace(apiserver):
    objects = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}]
    with pytest.raises(UserError, match=r"ConfigMap c needs metadata.namespace"):
        cluster.apply(objects, kubeconfig=apiserver)


@pytest.mark.slow
def test_label_target_needs_the_instance_label(apiserver):
    with pytest.raises(UserError, match=r"label target needs app.kubernetes.io/instance"):
        cluster.delete({cluster.MANAGED_BY: "servectl"}, kubeconfig=apiserver)


@pytest.mark.slow
def test_user_without_rights_gets_the_servers_forbidden_message(
    apiserver, apiserver_instance, kube, tmp_path
):
    def unprivileged(config):
        config["users"][0]["user"]["token"] = apiserver_instance.unprivileged_token

    kubeconfig = edited_kubeconfig(apiserver, tmp_path, unprivileged)
    with pytest.raises(UserError, match=r"forbidden: User \"cf-nobody\" cannot"):
        cluster.apply(rendered("cf-forbidden"), kubeconfig=kubeconfig)
    with pytest.raises(UserError, match=r"the API server refused: .*forbidden"):
        cluster.delete({cluster.INSTANCE: "yolo", cluster.MANAGED_BY: "servectl"}, kubeconfig=kubeconfig)
    assert "cf-forbidden" not in namespaces(kube)
