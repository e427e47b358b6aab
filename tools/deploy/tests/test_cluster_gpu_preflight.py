"""apply's GPU preflight (tools/deploy/kubernetes/preflight.py) against a REAL kube-apiserver.

No kubelet or device plugin runs here, so the test plays their part the only way the API server
sees it: it registers Node objects and patches their status subresource with the allocatable
resources the NVIDIA device plugin would advertise (whole GPUs, MIG slices), with the labels and
taints GPU nodes carry. Its own server (module scope): Nodes are cluster-wide, and a fresh etcd
keeps them from leaking into other suites. Refusals go through the real CLI (`servectl apply`,
exit 2, one line naming the environment file and field) and must leave the namespace untouched;
the way through is `Deploy.apply` with the v1.20 API-version shim (tools/testing/k8s_objects.py)
and ``wait=False``, because no kubelet ever makes a pod ready. The least-privilege half runs as
a client-certificate user holding only what `servectl rbac -o json` prints.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from lightkube import ApiError, Client, KubeConfig
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Namespace, Node, Service
from lightkube.resources.node_v1 import RuntimeClass
from lightkube.types import PatchType

from tools.deploy import Deploy
from tools.deploy import kubernetes as cluster
from tools.deploy.kubernetes import KubernetesTarget
from tools.errors import UserError
from tools.k8s.checks.monitoring_crds import crds
from tools.k8s.render.deployer import deployer_objects
from tools.k8s.render.inputs import load_inputs
from tools.k8s.schema.catalog import Catalog
from tools.k8s.tests.repo_copy import copy_repo_data, read, write
from tools.paths import REPO_ROOT
from tools.testing.apiserver import running_apiserver
from tools.testing.cli import servectl
from tools.testing.k8s_objects import for_kubernetes_1_20, install_crd
from tools.testing.pytest_apiserver import require_binaries

pytestmark = pytest.mark.slow
NAMESPACE = "creativeflow-ai-serving"  # platform/platform.yaml
DIGEST = "sha256:" + "9" * 64
SKIP_SUPPLY_CHAIN = {"CF_SUPPLY_CHAIN_FILE": str(REPO_ROOT / "tools/supply/testdata/skip-checks.yaml")}
CONTEXTS = ("creativeflow-staging", "creativeflow-prod")  # the environments' cluster.context
(DEPLOYERS,) = [s.name for s in Catalog().platform.deployer.subjects if s.kind == "Group"]
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}  # staging/prod tolerate it
PROD_LABELS = {"kubernetes.io/os": "linux", "nvidia.com/mig.strategy": "mixed"}
STAGING_LABELS = {"kubernetes.io/os": "linux", "nvidia.com/gpu.present": "true"}


def with_environment_contexts(kubeconfig: Path, dest: Path) -> Path:
    """The kubeconfig with its one context also under each environment's context name."""
    config = yaml.safe_load(kubeconfig.read_text())
    (context,) = config["contexts"]
    config["contexts"] += [{**context, "name": name} for name in CONTEXTS]
    dest.write_text(yaml.safe_dump(config))
    dest.chmod(0o600)
    return dest


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_binaries()  # skips, saying how to build them; fails under CI=true
    with running_apiserver(tmp_path_factory.mktemp("gpu-apiserver")) as server:
        for crd in crds():  # prod and staging render ServiceMonitors and PrometheusRules
            install_crd(server.kubeconfig, crd)
        yield server


@pytest.fixture(scope="module")
def admin_kubeconfig(server, tmp_path_factory) -> Path:
    return with_environment_contexts(server.kubeconfig, tmp_path_factory.mktemp("admin") / "kubeconfig")


@pytest.fixture(scope="module")
def admin(server) -> Client:
    with Client(config=KubeConfig.from_file(server.kubeconfig)) as client:
        yield client


@pytest.fixture
def nodes(admin):
    """``register(name, allocatable, labels, taints, unschedulable)``: a Ready Node as its kubelet,
    the device plugin and the node controller would leave it; each is removed after the test."""
    names = []

    def register(name, allocatable, labels=None, taints=(), unschedulable=False):
        spec = {"unschedulable": True} if unschedulable else {}
        admin.create(Node.from_dict({"metadata": {"name": name, "labels": labels or {}}, "spec": spec}))
        names.append(name)
        resources = {"cpu": "32", "memory": "256Gi", "pods": "110", **allocatable}
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady"}
        status = {"capacity": resources, "allocatable": resources, "conditions": [ready]}
        admin.patch(Node.Status, name, {"status": status})
        # The API server's TaintNodesByCondition plugin taints every new Node not-ready:NoSchedule
        # (seen here); the node controller lifts it once the kubelet reports Ready.
        created = admin.get(Node, name).spec.taints or []
        assert [t.key for t in created] == ["node.kubernetes.io/not-ready"], created
        admin.patch(Node, name, {"spec": {"taints": list(taints)}}, patch_type=PatchType.MERGE)

    yield register
    for name in names:
        admin.delete(Node, name)


def footprint(admin: Client) -> dict:
    """What lives in the platform namespace (kind/name -> resourceVersion): any write changes it."""
    try:
        found = {"Namespace": admin.get(Namespace, NAMESPACE).metadata.resourceVersion}
    except ApiError:
        return {}
    for kind in (ConfigMap, Deployment, Service):
        for obj in admin.list(kind, namespace=NAMESPACE):
            found[f"{kind.__name__}/{obj.metadata.name}"] = obj.metadata.resourceVersion
    return found


def apply_cli(kubeconfig: Path, model: str, env: str, *extra: str):
    """`servectl apply MODEL --env ENV` with made-up digests for every image variant: nothing is built."""
    digests = [f"--digest={label}={DIGEST}" for label in Catalog().image_labels(model)]
    return servectl(
        "apply", model, "--env", env, "--kubeconfig", str(kubeconfig), *digests, "--no-wait", *extra,
        env=SKIP_SUPPLY_CHAIN, timeout=120,
    )  # fmt: skip


def refused(result) -> str:
    """The one error line of a refused CLI run (exit 2, no traceback)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def deploy(model: str, env: str, root: Path = REPO_ROOT) -> Deploy:
    """The model's Deploy with every image pinned, objects shimmed for the v1.20 server."""
    labels = Catalog(root).image_labels(model)
    loaded = Deploy.load(model, env, {str(label): DIGEST for label in labels}, root=root)
    loaded.objects = for_kubernetes_1_20(loaded.objects)
    return loaded


def preflight(kubeconfig: Path, loaded: Deploy) -> None:
    with KubernetesTarget.connect(loaded.env, kubeconfig) as target:
        target.preflight(loaded.unresolved())


def with_runtime_class(tmp_path: Path, name: str = "nvidia") -> Path:
    """A repo copy whose prod names ``cluster.gpuRuntimeClassName``."""
    root = copy_repo_data(tmp_path / "repo")
    path = root / "platform" / "environments" / "prod.yaml"
    data = read(path)
    data["cluster"]["gpuRuntimeClassName"] = name
    write(path, data)
    return root


# -- refusals, through the CLI ---------------------------------------------------------------------


def test_no_node_advertises_the_mig_profile_refuses_and_nothing_is_applied(admin_kubeconfig, admin, nodes):
    nodes("a100-whole", {"nvidia.com/gpu": "8"}, PROD_LABELS, [GPU_TAINT])  # MIG off: whole GPUs
    nodes("a100-small-slices", {"nvidia.com/mig-1g.10gb": "7"}, PROD_LABELS, [GPU_TAINT])
    before = footprint(admin)

    line = refused(apply_cli(admin_kubeconfig, "gpt2", "prod"))

    assert line.endswith(
        "platform/environments/prod.yaml: models.gpt2.gpu.migProfile: "
        "no node advertises nvidia.com/mig-3g.40gb (allocatable); nothing was applied"
    ), line
    assert footprint(admin) == before
    as_json = apply_cli(admin_kubeconfig, "gpt2", "prod", "-o", "json")
    error = json.loads(as_json.stdout)["error"]
    assert as_json.returncode == 2 and error["field"] == "models.gpt2.gpu.migProfile"
    assert error["file"] == str(REPO_ROOT / "platform/environments/prod.yaml")
    # For GPU node pools an autoscaler grows from zero: past the preflight, to the next check (this
    # v1.20 server lacks policy/v1, which the CLI's unshimmed manifests use; nothing sent either).
    skipped = apply_cli(admin_kubeconfig, "gpt2", "prod", "--skip-gpu-preflight")
    assert "GPU preflight skipped: nothing checked that prod can schedule gpt2" in skipped.stderr
    assert "does not serve PodDisruptionBudget in policy/v1; nothing was sent" in refused(skipped)
    assert footprint(admin) == before


@pytest.mark.parametrize(
    ("labels", "field", "words"),
    [
        ({"kubernetes.io/os": "linux"}, "models.gpt2.nodeSelector", "nvidia.com/gpu.present=<none>"),
        ({**STAGING_LABELS, "kubernetes.io/os": "windows"}, "nodeSelector", "kubernetes.io/os=windows"),
    ],
    ids=["model-selector", "environment-selector"],
)
def test_gpu_nodes_without_the_selected_labels_refuse(admin_kubeconfig, admin, nodes, labels, field, words):
    nodes("t4-unlabelled", {"nvidia.com/gpu": "1"}, labels, [GPU_TAINT])
    nodes("cpu-only", {}, STAGING_LABELS)  # the labels, but no GPU: not a candidate
    before = footprint(admin)

    line = refused(apply_cli(admin_kubeconfig, "gpt2", "staging"))

    assert f"platform/environments/staging.yaml: {field}: no node advertising nvidia.com/gpu" in line, line
    assert f"(t4-unlabelled: {words})" in line and "nothing was applied" in line, line
    assert footprint(admin) == before


def test_a_taint_the_pods_do_not_tolerate_refuses_naming_it(admin_kubeconfig, admin, nodes):
    dedicated = {"key": "dedicated", "value": "ml-research", "effect": "NoSchedule"}
    soft = {"key": "spot", "value": "true", "effect": "PreferNoSchedule"}  # only steers: never blocks
    nodes("t4-reserved", {"nvidia.com/gpu": "1"}, STAGING_LABELS, [GPU_TAINT, dedicated, soft])
    nodes("t4-cordoned", {"nvidia.com/gpu": "1"}, STAGING_LABELS, [GPU_TAINT], unschedulable=True)
    before = footprint(admin)

    line = refused(apply_cli(admin_kubeconfig, "resnet50", "staging"))

    assert "staging.yaml: models.resnet50.tolerations: every node advertising nvidia.com/gpu" in line, line
    assert "t4-reserved: dedicated=ml-research:NoSchedule)" in line and "spot" not in line, line
    assert "(t4-cordoned: node.kubernetes.io/unschedulable:NoSchedule;" in line, line  # nodes by name
    assert footprint(admin) == before


# -- the way through, the count, the RuntimeClass and CPU-only models ------------------------------


def test_apply_proceeds_when_a_node_can_run_the_gpu_pods(admin_kubeconfig, admin, nodes, monkeypatch):
    monkeypatch.setenv("CF_SUPPLY_CHAIN_FILE", SKIP_SUPPLY_CHAIN["CF_SUPPLY_CHAIN_FILE"])
    nodes("a100-whole", {"nvidia.com/gpu": "8"}, PROD_LABELS, [GPU_TAINT])
    nodes(
        "h100-mig", {"nvidia.com/mig-3g.40gb": "2", "nvidia.com/mig-1g.10gb": "3"}, PROD_LABELS, [GPU_TAINT]
    )
    loaded = deploy("gpt2", "prod")

    with KubernetesTarget.connect(loaded.env, admin_kubeconfig) as target:
        applied = loaded.apply(target, wait=False)  # no kubelet: the pods would never be ready

    assert applied.changed and applied.images[0].endswith(f"/models/gpt2/image_gpu@{DIGEST}")
    live = admin.get(Deployment, "gpt2", namespace=NAMESPACE)
    assert live.spec.template.spec.containers[0].resources.limits["nvidia.com/mig-3g.40gb"] == "1"
    cluster.delete(loaded.objects, kubeconfig=admin_kubeconfig, context=CONTEXTS[1])


def test_a_count_no_node_has_names_gpu_count(admin_kubeconfig, nodes, tmp_path):
    nodes("h100-mig", {"nvidia.com/mig-3g.40gb": "2"}, PROD_LABELS, [GPU_TAINT])
    root = copy_repo_data(tmp_path / "repo")
    path = root / "platform" / "environments" / "prod.yaml"
    data = read(path)
    data["models"]["gpt2"]["gpu"]["count"] = 3
    write(path, data)

    with pytest.raises(UserError) as error:
        preflight(admin_kubeconfig, deploy("gpt2", "prod", root))

    assert (error.value.file, error.value.field) == (str(path), "models.gpt2.gpu.count")
    assert "asks for 3 nvidia.com/mig-3g.40gb but no node has that many allocatable" in error.value.message
    assert "(most: 2 on node h100-mig)" in error.value.message


def test_the_runtime_class_must_exist_and_its_scheduling_counts(admin_kubeconfig, admin, nodes, tmp_path):
    nodes("h100-mig", {"nvidia.com/mig-3g.40gb": "1"}, PROD_LABELS, [GPU_TAINT])
    root = with_runtime_class(tmp_path)
    loaded = deploy("gpt2", "prod", root)
    pod = next(o for o in loaded.objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "nvidia"

    with pytest.raises(UserError) as error:
        preflight(admin_kubeconfig, loaded)
    assert error.value.field == "cluster.gpuRuntimeClassName"
    assert error.value.message.startswith("the cluster has no RuntimeClass nvidia (node.k8s.io/v1)")

    # As the GPU Operator creates it; then with scheduling the node lacks (the admission plugin adds it).
    runtime_class = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "nvidia"},
                     "handler": "nvidia"}  # fmt: skip
    cluster.apply([runtime_class], kubeconfig=admin_kubeconfig, prune=False)
    try:
        preflight(admin_kubeconfig, loaded)
        pinned = {**runtime_class, "scheduling": {"nodeSelector": {"nvidia.com/gpu.deploy.toolkit": "true"}}}
        cluster.apply([pinned], kubeconfig=admin_kubeconfig, prune=False)
        with pytest.raises(UserError) as error:
            preflight(admin_kubeconfig, loaded)
        assert error.value.field == "cluster.gpuRuntimeClassName"
        assert (
            "is labelled nvidia.com/gpu.deploy.toolkit=true (h100-mig: nvidia.com/gpu.deploy.toolkit=<none>)"
            in error.value.message
        )
    finally:
        admin.delete(RuntimeClass, "nvidia")


def test_no_nodes_at_all_still_lets_a_cpu_model_through(admin_kubeconfig):
    preflight(admin_kubeconfig, deploy("yolo", "prod"))  # yolo asks for no GPU: nothing to check


# -- least privilege: only what `servectl rbac` prints ---------------------------------------------


@pytest.fixture(scope="module")
def deployer_kubeconfig(server, tmp_path_factory) -> Path:
    """A client-certificate user in the deployers' group, bound by `servectl rbac --env prod` as printed."""
    printed = servectl("rbac", "--env", "prod", "-o", "json")
    assert printed.returncode == 0, printed.stderr
    rbac = json.loads(printed.stdout)["items"]
    assert rbac == deployer_objects(load_inputs("gpt2", "prod"))
    cluster.apply(rbac, kubeconfig=server.kubeconfig, prune=False)
    tmp = tmp_path_factory.mktemp("deployer")
    crt, key = server.client_certificate("ci-gpu-deployer", (DEPLOYERS,), tmp)
    entry = {"name": "ci-gpu-deployer", "user": {"client-certificate": str(crt), "client-key": str(key)}}
    return with_environment_contexts(server.write_kubeconfig(tmp / "base", entry), tmp / "kubeconfig")


def test_the_deployer_may_run_the_preflight_and_is_refused_by_it_not_by_rbac(
    deployer_kubeconfig, admin, nodes
):
    nodes("a100-whole", {"nvidia.com/gpu": "8"}, PROD_LABELS, [GPU_TAINT])
    before = footprint(admin)

    line = refused(apply_cli(deployer_kubeconfig, "gpt2", "prod"))

    assert line.endswith("models.gpt2.gpu.migProfile: no node advertises nvidia.com/mig-3g.40gb "
                         "(allocatable); nothing was applied"), line  # fmt: skip
    assert footprint(admin) == before


def test_the_deployer_applies_a_gpu_model_naming_a_runtime_class(
    server, deployer_kubeconfig, admin, nodes, tmp_path, monkeypatch
):
    monkeypatch.setenv("CF_SUPPLY_CHAIN_FILE", SKIP_SUPPLY_CHAIN["CF_SUPPLY_CHAIN_FILE"])
    nodes("h100-mig", {"nvidia.com/mig-3g.40gb": "1"}, PROD_LABELS, [GPU_TAINT])
    root = with_runtime_class(tmp_path)
    rbac = deployer_objects(load_inputs("gpt2", "prod", root=root))  # what `rbac` prints for this data
    (cluster_role,) = [o for o in rbac if o["kind"] == "ClusterRole"]
    assert cluster_role["rules"][1:] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]},
        {"apiGroups": ["node.k8s.io"], "resources": ["runtimeclasses"], "resourceNames": ["nvidia"],
         "verbs": ["get"]},
    ]  # fmt: skip
    cluster.apply(rbac, kubeconfig=server.kubeconfig, prune=False)
    runtime_class = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "nvidia"},
                     "handler": "nvidia"}  # fmt: skip
    cluster.apply([runtime_class], kubeconfig=server.kubeconfig, prune=False)
    loaded = deploy("gpt2", "prod", root)
    try:
        with KubernetesTarget.connect(loaded.env, deployer_kubeconfig) as target:
            loaded.apply(target, wait=False)
        assert (
            admin.get(Deployment, "gpt2", namespace=NAMESPACE).spec.template.spec.runtimeClassName == "nvidia"
        )
        # Only the class the environment names may be read: another one is refused, and said so.
        other = deploy("gpt2", "prod", with_runtime_class(tmp_path / "other", "nvidia-cdi"))
        with pytest.raises(UserError) as error:
            preflight(deployer_kubeconfig, other)
        message = str(error.value)
        assert "the GPU preflight could not get RuntimeClass nvidia-cdi" in message and "forbidden" in message
        assert error.value.file == str(deployer_kubeconfig) and "\n" not in message
    finally:
        cluster.delete(loaded.objects, kubeconfig=server.kubeconfig)
        admin.delete(RuntimeClass, "nvidia")


def test_without_list_nodes_gpu_models_are_refused_and_cpu_models_need_nothing(server, nodes, tmp_path):
    """Take the Nodes rule away: the preflight says what it lacks, and a CPU-only model reads nothing."""
    group = "ci-without-nodes"
    narrower = []
    for obj in deployer_objects(load_inputs("gpt2", "prod")):
        obj = json.loads(json.dumps(obj))
        if obj["kind"] != "Namespace":
            obj["metadata"]["name"] += f"-{group}"
        if "roleRef" in obj:
            obj["roleRef"]["name"] += f"-{group}"
            obj["subjects"] = [{"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}]
        if "rules" in obj:
            obj["rules"] = [r for r in obj["rules"] if r["resources"] != ["nodes"]]
        narrower.append(obj)
    cluster.apply(narrower, kubeconfig=server.kubeconfig, prune=False)
    crt, key = server.client_certificate("ci-no-nodes", (group,), tmp_path)
    entry = {"name": "ci-no-nodes", "user": {"client-certificate": str(crt), "client-key": str(key)}}
    kubeconfig = with_environment_contexts(server.write_kubeconfig(tmp_path / "base", entry), tmp_path / "kc")
    nodes("h100-mig", {"nvidia.com/mig-3g.40gb": "1"}, PROD_LABELS, [GPU_TAINT])

    line = refused(apply_cli(kubeconfig, "gpt2", "prod"))

    assert f"error: {kubeconfig}: the GPU preflight could not list nodes:" in line, line
    assert 'User "ci-no-nodes" cannot list resource "nodes"' in line, line
    assert "`servectl rbac --env prod` grants it" in line, line
    preflight(kubeconfig, deploy("yolo", "prod"))  # no GPU request: no Node is read, nothing refused
