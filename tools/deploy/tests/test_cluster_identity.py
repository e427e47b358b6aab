"""Deploying as users' kubeconfigs name it, with least privilege, on a real kube-apiserver.

Its own API server (TLS, ``--client-ca-file``, token auth, RBAC; tools/testing/apiserver): the
admin (``system:masters``) only applies what ``servectl rbac -o json`` prints (tools/k8s/render/deployer.py)
and the CRDs a cluster would have; every model is then applied, diffed, read and deleted by
identities that hold nothing but the deployer's Role: a client certificate, and an exec
credential plugin. Without the binding, or with one verb taken away, apply fails with the
server's refusal naming the object, and nothing is applied.
"""

from __future__ import annotations

import json
import sys
import textwrap
from copy import deepcopy
from pathlib import Path

import pytest
from lightkube import Client, KubeConfig
from lightkube.resources.core_v1 import ConfigMap, Namespace

from tools.deploy import kubernetes as cluster
from tools.errors import UserError
from tools.k8s.checks.monitoring_crds import crds
from tools.k8s.render.deployer import deployer_objects
from tools.k8s.render.inputs import load_inputs
from tools.k8s.render.resolve import resolve
from tools.k8s.schema.catalog import Catalog
from tools.k8s.tests.repo_copy import copy_repo_data, read, write
from tools.testing.apiserver import running_apiserver
from tools.testing.cli import servectl
from tools.testing.k8s_objects import for_kubernetes_1_20, install_crd
from tools.testing.pytest_apiserver import require_binaries

pytestmark = pytest.mark.slow
ENV = "staging"
DIGEST = "sha256:" + "5" * 64
INPUTS = load_inputs("yolo", ENV)
(DEPLOYERS,) = [s.name for s in INPUTS.platform.deployer.subjects if s.kind == "Group"]
EXEC_USER = "ci-exec-deployer"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_binaries()  # skips, saying how to build them; fails under CI=true
    with running_apiserver(
        tmp_path_factory.mktemp("rbac-apiserver"), users={EXEC_USER: (DEPLOYERS,)}
    ) as server:
        for crd in crds():  # the kinds prometheus-operator installs
            install_crd(server.kubeconfig, crd)
        # What an admin runs: `servectl rbac --env staging -o json`, applied as it is.
        printed = servectl("rbac", "--env", ENV, "-o", "json")
        assert printed.returncode == 0, printed.stderr
        rbac = json.loads(printed.stdout)["items"]
        assert rbac == deployer_objects(INPUTS)
        cluster.apply(rbac, kubeconfig=server.kubeconfig, prune=False)
        yield server


@pytest.fixture(scope="module")
def admin(server) -> Client:
    with Client(config=KubeConfig.from_file(server.kubeconfig)) as client:
        yield client


def manifests(model: str) -> list[dict]:
    variants = Catalog().image_labels(model)  # staging gives gpt2, resnet50 a GPU
    return for_kubernetes_1_20(resolve(model, ENV, digests={str(label): DIGEST for label in variants}))


def cert_kubeconfig(server, tmp_path: Path, user: str, groups: tuple[str, ...]) -> Path:
    crt, key = server.client_certificate(user, groups, tmp_path / "certs")
    entry = {"name": user, "user": {"client-certificate": str(crt), "client-key": str(key)}}
    return server.write_kubeconfig(tmp_path / f"{user}.kubeconfig", entry)


def exec_kubeconfig(
    server, tmp_path: Path, token: str, *, api_version: str = "v1beta1", exit_code: int = 0
) -> Path:
    """A kubeconfig whose user runs a credential plugin, as aws/gke/kubelogin plugins are run:
    it reads the token from a file (as they fetch one), logs each run, prints an ExecCredential."""
    (tmp_path / "token").write_text(token)
    plugin = tmp_path / "credential-plugin"
    plugin.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""
            import json, sys
            from pathlib import Path
            here = Path(sys.argv[1])
            with open(here / "runs", "a") as runs:
                runs.write("run\\n")
            if {exit_code}:
                sys.exit("no session: log in first")
            print(json.dumps({{"apiVersion": "client.authentication.k8s.io/{api_version}",
                               "kind": "ExecCredential",
                               "status": {{"token": (here / "token").read_text()}}}}))
            """
        )
    )
    plugin.chmod(0o755)
    exec_entry = {
        "apiVersion": f"client.authentication.k8s.io/{api_version}",
        "command": str(plugin),
        "args": [str(tmp_path)],
    }
    return server.write_kubeconfig(
        tmp_path / "exec.kubeconfig", {"name": EXEC_USER, "user": {"exec": exec_entry}}
    )


def test_the_deployer_rules_name_every_verb_and_resource_and_no_wildcard():
    objects = deployer_objects(INPUTS)
    rules = [r for o in objects for r in o.get("rules", [])]
    assert rules, "the Role and ClusterRole have rules"
    for rule in rules:
        assert "*" not in json.dumps(rule), rule
    (cluster_role,) = [o for o in objects if o["kind"] == "ClusterRole"]
    namespace_rule = {
        "apiGroups": [""],
        "resources": ["namespaces"],
        "resourceNames": [INPUTS.namespace],
        "verbs": ["get", "patch"],
    }
    # staging gives gpt2 and resnet50 a GPU: apply's GPU preflight lists Nodes (no RuntimeClass named).
    nodes_rule = {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}
    assert cluster_role["rules"] == [namespace_rule, nodes_rule]
    bindings = [o for o in objects if o["kind"].endswith("Binding")]
    assert all(
        b["subjects"] == [{"kind": "Group", "name": DEPLOYERS, "apiGroup": "rbac.authorization.k8s.io"}]
        for b in bindings
    )


def test_an_environment_without_gpu_models_grants_no_node_reads(tmp_path):
    root = copy_repo_data(tmp_path)
    path = root / "platform" / "environments" / "staging.yaml"
    data = read(path)
    for model in data["models"].values():
        model.pop("gpu", None)
    write(path, data)
    objects = deployer_objects(load_inputs("yolo", ENV, root=root))
    (cluster_role,) = [o for o in objects if o["kind"] == "ClusterRole"]
    assert [rule["resources"] for rule in cluster_role["rules"]] == [["namespaces"]]


@pytest.mark.parametrize("model", ["yolo", "gpt2"])
def test_client_certificate_deployer_applies_diffs_reads_and_deletes(server, admin, tmp_path, model):
    kubeconfig = cert_kubeconfig(server, tmp_path, f"ci-{model}", (DEPLOYERS,))

    changes = cluster.apply(manifests(model), kubeconfig=kubeconfig)

    assert {c.kind for c in changes} >= {"NetworkPolicy", "Deployment", "Service", "ServiceMonitor"}
    assert cluster.diff(manifests(model), kubeconfig=kubeconfig) == []
    (deployment,) = cluster.status(manifests(model), kubeconfig=kubeconfig).deployments
    assert deployment.images[0].endswith(DIGEST)
    deleted = cluster.delete(manifests(model), kubeconfig=kubeconfig)
    assert {c.kind for c in deleted} >= {"Deployment", "NetworkPolicy"}
    assert admin.get(Namespace, INPUTS.namespace)  # the shared objects stay


def test_exec_plugin_deployer_applies_and_the_plugin_really_ran(server, tmp_path):
    kubeconfig = exec_kubeconfig(server, tmp_path, server.tokens[EXEC_USER])

    cluster.apply(manifests("resnet50"), kubeconfig=kubeconfig)

    assert cluster.diff(manifests("resnet50"), kubeconfig=kubeconfig) == []
    assert (tmp_path / "runs").read_text().count("run") >= 1


def test_the_deployer_is_not_an_admin(server, tmp_path):
    """What the rules leave out is refused: other namespaces, Secrets, cluster-wide objects."""
    kubeconfig = cert_kubeconfig(server, tmp_path, "ci-curious", (DEPLOYERS,))
    other = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}}]
    with pytest.raises(UserError, match="forbidden"):
        cluster.apply(other, kubeconfig=kubeconfig, prune=False)
    with Client(config=KubeConfig.from_file(kubeconfig)) as client:
        from lightkube import ApiError
        from lightkube.resources.core_v1 import Secret

        with pytest.raises(ApiError, match="forbidden"):
            list(client.list(Secret, namespace=INPUTS.namespace))
        with pytest.raises(ApiError, match="forbidden"):
            client.get(Namespace, "kube-system")


def test_identity_without_the_binding_is_refused_naming_the_object_and_nothing_is_applied(
    server, admin, tmp_path
):
    kubeconfig = cert_kubeconfig(server, tmp_path, "ci-stranger", ("some-other-team",))

    with pytest.raises(UserError) as error:
        cluster.apply(manifests("yolo"), kubeconfig=kubeconfig)

    message = str(error.value)
    assert "forbidden" in message and 'User "ci-stranger"' in message, message
    assert f"Namespace {INPUTS.namespace}" in message, "names the refused object"
    assert "\n" not in message
    assert [
        cm.metadata.name
        for cm in admin.list(
            ConfigMap, namespace=INPUTS.namespace, labels={"app.kubernetes.io/instance": "yolo"}
        )
    ] == []


@pytest.mark.parametrize(
    ("resource", "verb", "refused"),
    [("deployments", "patch", "Deployment yolo"), ("networkpolicies", "create", "NetworkPolicy")],
)
def test_a_missing_verb_fails_apply_naming_the_object(server, admin, tmp_path, resource, verb, refused):
    """The rules are exactly what apply needs: take one verb away and apply says what it lacks."""
    narrower = deepcopy(deployer_objects(INPUTS))
    group = f"ci-without-{verb}-{resource}"
    for obj in narrower:
        obj["metadata"]["name"] = (
            f"{obj['metadata']['name']}-{group}" if obj["kind"] != "Namespace" else obj["metadata"]["name"]
        )
        if obj["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            obj["roleRef"]["name"] = f"{obj['roleRef']['name']}-{group}"
            obj["subjects"] = [{"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}]
        for rule in obj.get("rules", []):
            if resource in rule["resources"]:
                rule["verbs"] = [v for v in rule["verbs"] if v != verb]
    cluster.apply(narrower, kubeconfig=server.kubeconfig, prune=False)
    kubeconfig = cert_kubeconfig(server, tmp_path, f"ci-{group}", (group,))

    with pytest.raises(UserError) as error:
        cluster.apply(manifests("yolo"), kubeconfig=kubeconfig)

    message = str(error.value)
    assert refused in message and "forbidden" in message and f"cannot {verb}" in message, message
    assert "nothing was applied" in message


def test_exec_plugin_that_fails_is_one_line_naming_the_kubeconfig(server, tmp_path):
    kubeconfig = exec_kubeconfig(server, tmp_path, "unused", exit_code=1)

    with pytest.raises(UserError) as error:
        cluster.apply(manifests("yolo"), kubeconfig=kubeconfig)

    assert str(kubeconfig) in str(error.value) and "no session: log in first" in str(error.value)
    assert "credential plugin failed" in str(error.value) and "nothing was sent" in str(error.value)


def test_exec_plugin_with_a_token_the_server_refuses(server, tmp_path):
    kubeconfig = exec_kubeconfig(server, tmp_path, "not-a-token")

    with pytest.raises(UserError, match=r"refused our credentials \(401\)"):
        cluster.apply(manifests("yolo"), kubeconfig=kubeconfig)


def test_exec_plugin_api_version_lightkube_lacks_is_one_line(server, tmp_path):
    """client.authentication.k8s.io/v1 is not in lightkube 1.0.1: say so, send nothing."""
    kubeconfig = exec_kubeconfig(server, tmp_path, server.tokens[EXEC_USER], api_version="v1")

    with pytest.raises(UserError) as error:
        cluster.apply(manifests("yolo"), kubeconfig=kubeconfig)

    assert "credential plugin failed" in str(error.value) and "client.authentication.k8s.io/v1" in str(
        error.value
    )
    assert not (tmp_path / "runs").exists(), "the plugin was never run"


def test_the_deployer_may_get_through_the_pod_proxy_and_nothing_more(server, admin, tmp_path):
    """apply --canary reads canary pods' /metrics through the pod proxy: RBAC allows exactly GET.
    (The pod does not exist, so an allowed GET gets 404; a refused request gets 403 first.)"""
    path = f"/api/v1/namespaces/{INPUTS.namespace}/pods/no-such-pod:8000/proxy/metrics"
    deployer = cert_kubeconfig(server, tmp_path, "ci-canary", (DEPLOYERS,))
    with cluster.connect(deployer) as connected:
        assert connected.http.get(path).status_code == 404
        assert connected.http.post(path).status_code == 403
    stranger = cert_kubeconfig(server, tmp_path, "ci-nobody", ("some-other-team",))
    with cluster.connect(stranger) as connected:
        assert connected.http.get(path).status_code == 403
