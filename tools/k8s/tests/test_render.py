"""Rendering: one template set, driven by runtime.yaml + model.yaml + the environment, for every case."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest
import yaml

from tools.errors import UserError
from tools.k8s.kinds import APPLY_ORDER
from tools.k8s.render import render, render_inputs, to_yaml
from tools.k8s.render.inputs import load_inputs
from tools.k8s.tests.repo_copy import copy_repo_data, read, write

MODELS = ("yolo", "gpt2", "resnet50")
ENVS = ("local", "staging", "prod")
LABEL_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
}


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], list[dict]]:
    return {(m, e): render(m, e) for m, e in itertools.product(MODELS, ENVS)}


def by_kind(docs: list[dict], kind: str) -> dict | None:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) <= 1
    return found[0] if found else None


def pod_spec(docs: list[dict]) -> dict:
    return by_kind(docs, "Deployment")["spec"]["template"]["spec"]


@pytest.mark.parametrize(("model", "env"), list(itertools.product(MODELS, ENVS)))
def test_every_object_is_labelled_namespaced_and_in_apply_order(rendered, model, env):
    docs = rendered[model, env]
    kinds = [d["kind"] for d in docs]
    assert kinds == sorted(kinds, key=APPLY_ORDER.index), "apply order"
    assert kinds[:5] == ["Namespace", "ServiceAccount", "Role", "RoleBinding", "NetworkPolicy"]
    for doc in docs:
        assert set(doc["metadata"]["labels"]) >= LABEL_KEYS, doc["kind"]
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "creativeflow-ai-serving"
    for doc in docs[5:]:
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == model, "prune finds them by this"
    template_labels = by_kind(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert set(template_labels) >= LABEL_KEYS


@pytest.mark.parametrize(("model", "env"), list(itertools.product(MODELS, ENVS)))
def test_pods_meet_pod_security_restricted(rendered, model, env):
    pod = pod_spec(rendered[model, env])
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "ai-model-server-sa"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    ctx = container["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": pod["volumes"][0]["emptyDir"]["sizeLimit"]}} in pod[
        "volumes"
    ]
    variant = (
        "image_gpu" if any(k.startswith("nvidia.com/") for k in container["resources"]["limits"]) else "image"
    )
    assert container["image"] == f"//models/{model}:{variant}", "a label until resolve"
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)


def _http_probe(container: dict, which: str) -> tuple[str, int]:
    probe = container[which]["httpGet"]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}[probe["port"]]
    return probe["path"], port


def test_probes_are_right_for_each_runtime(rendered):
    yolo = pod_spec(rendered["yolo", "staging"])["containers"][0]
    assert _http_probe(yolo, "readinessProbe") == ("/ready", 8000)
    assert _http_probe(yolo, "startupProbe") == ("/ready", 8000)
    assert _http_probe(yolo, "livenessProbe") == ("/health", 8000)
    gpt2 = pod_spec(rendered["gpt2", "staging"])["containers"][0]
    assert _http_probe(gpt2, "readinessProbe") == ("/v2/health/ready", 8000)
    assert _http_probe(gpt2, "livenessProbe") == ("/v2/health/live", 8000)
    resnet = pod_spec(rendered["resnet50", "staging"])["containers"][0]
    assert _http_probe(resnet, "readinessProbe") == ("/v1/models/resnet50", 8501)
    assert _http_probe(resnet, "startupProbe") == ("/v1/models/resnet50", 8501)
    # Model loading gets minutes before liveness counts; it is the startup probe that waits.
    assert yolo["startupProbe"]["periodSeconds"] * yolo["startupProbe"]["failureThreshold"] >= 300


def test_fastapi_settings_agree_with_the_declared_port(rendered):
    container = pod_spec(rendered["yolo", "local"])["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    ports = {p["name"]: str(p["containerPort"]) for p in container["ports"]}
    assert env["SERVER_PORT"] == ports["http"] == "8000"
    assert env["SERVER_GRPC_PORT"] == ports["grpc"] == "8001"
    assert env["MODEL_NAME"] == "yolo" and env["MODEL_HANDLER"] == "models.yolo.handler:YOLOModelHandler"


def test_service_ports(rendered):
    def ports(model):
        service = by_kind(rendered[model, "staging"], "Service")
        assert all(p["protocol"] == "TCP" for p in service["spec"]["ports"])
        return {p["port"]: p["targetPort"] for p in service["spec"]["ports"]}

    assert ports("yolo") == {80: "http", 8001: "grpc"}
    assert ports("resnet50") == {8500: "grpc", 8501: "http"}
    assert ports("gpt2") == {8000: "http", 8001: "grpc", 8002: "metrics"}
    yolo = pod_spec(rendered["yolo", "staging"])["containers"][0]
    assert yolo["ports"] == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"},
        {"name": "grpc", "containerPort": 8001, "protocol": "TCP"},
    ]


def test_gpu_limits_follow_the_environment_and_the_mig_toggle(rendered):
    def limits(model, env):
        return pod_spec(rendered[model, env])["containers"][0]["resources"]["limits"]

    assert not any(k.startswith("nvidia.com/") for k in limits("gpt2", "local"))
    assert limits("gpt2", "staging")["nvidia.com/gpu"] == "1"
    assert limits("gpt2", "prod") == {"cpu": "4", "memory": "8Gi", "nvidia.com/mig-3g.40gb": "1"}
    assert limits("resnet50", "prod")["nvidia.com/mig-1g.10gb"] == "1"
    assert not any(k.startswith("nvidia.com/") for k in limits("yolo", "prod"))
    gpu_pod = pod_spec(rendered["gpt2", "staging"])
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu_pod["tolerations"]
    assert gpu_pod["nodeSelector"]["nvidia.com/gpu.present"] == "true"


def _metric_names(hpa: dict) -> list[str]:
    names = []
    for metric in hpa["spec"]["metrics"]:
        names.append(
            metric["resource"]["name"] if metric["type"] == "Resource" else metric["pods"]["metric"]["name"]
        )
    return names


def test_hpa_scales_on_cpu_plus_the_right_gpu_metric(rendered):
    assert by_kind(rendered["yolo", "local"], "HorizontalPodAutoscaler") is None, "no HPA without bounds"
    assert by_kind(rendered["yolo", "local"], "Deployment")["spec"]["replicas"] == 1
    yolo = by_kind(rendered["yolo", "staging"], "HorizontalPodAutoscaler")
    assert yolo["apiVersion"] == "autoscaling/v2"
    assert yolo["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
        }
    ]
    assert (yolo["spec"]["minReplicas"], yolo["spec"]["maxReplicas"]) == (2, 4)
    assert "replicas" not in by_kind(rendered["yolo", "staging"], "Deployment")["spec"], "the HPA owns it"
    assert _metric_names(by_kind(rendered["resnet50", "staging"], "HorizontalPodAutoscaler")) == [
        "cpu",
        "DCGM_FI_DEV_GPU_UTIL",
    ]
    mig = by_kind(rendered["resnet50", "prod"], "HorizontalPodAutoscaler")
    assert _metric_names(mig) == ["cpu", "DCGM_FI_PROF_GR_ENGINE_ACTIVE"]
    assert mig["spec"]["metrics"][1]["pods"]["target"] == {"type": "AverageValue", "averageValue": "800m"}
    assert _metric_names(by_kind(rendered["gpt2", "staging"], "HorizontalPodAutoscaler")) == [
        "cpu",
        "avg_time_queue_us",
    ]


def _metrics_off(model: str, env: str) -> list[dict]:
    inputs = load_inputs(model, env)
    features = inputs.env.features.model_copy(update={"enableModelSpecificMetrics": False})
    env_off = inputs.env.model_copy(update={"features": features})
    return render_inputs(dataclasses.replace(inputs, env=env_off))


def test_pdb_and_service_monitor_follow_the_toggle(rendered):
    for model in MODELS:
        pdb = by_kind(rendered[model, "local"], "PodDisruptionBudget")
        assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["maxUnavailable"] == 1
        kinds = {d["kind"] for d in _metrics_off(model, "staging")}
        assert not kinds & {"ServiceMonitor", "PrometheusRule"}, "metrics toggle off"
        assert by_kind(rendered[model, "staging"], "PrometheusRule") is not None
    monitor = by_kind(rendered["resnet50", "staging"], "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/monitoring/prometheus/metrics"
    assert by_kind(rendered["gpt2", "prod"], "ServiceMonitor")["spec"]["endpoints"][0]["port"] == "metrics"
    service_ports = {p["name"] for p in by_kind(rendered["yolo", "prod"], "Service")["spec"]["ports"]}
    assert (
        by_kind(rendered["yolo", "prod"], "ServiceMonitor")["spec"]["endpoints"][0]["port"] in service_ports
    )


def runtime_config(docs: list[dict]) -> dict | None:
    """The runtime's ConfigMap (not the dashboard's or the prometheus-adapter rules')."""
    observability = ("-dashboard", "-prometheus-adapter")
    return by_kind([d for d in docs if not d["metadata"]["name"].endswith(observability)], "ConfigMap")


def test_config_maps_come_from_the_runtime_hooks(rendered):
    assert runtime_config(rendered["yolo", "staging"]) is None, "fastapi needs no config"
    tf = runtime_config(rendered["resnet50", "staging"])
    assert set(tf["data"]) == {"models.config", "monitoring.config"}
    assert 'base_path: "/models/resnet50"' in tf["data"]["models.config"]
    mounts = pod_spec(rendered["resnet50", "staging"])["containers"][0]["volumeMounts"]
    assert {"name": "config", "mountPath": "/config", "readOnly": True} in mounts
    # Triton: KIND_GPU only where the environment gives the model a GPU, mounted over config.pbtxt.
    assert "KIND_CPU" in runtime_config(rendered["gpt2", "local"])["data"]["config.pbtxt"]
    assert "KIND_GPU" in runtime_config(rendered["gpt2", "staging"])["data"]["config.pbtxt"]
    mounts = pod_spec(rendered["gpt2", "local"])["containers"][0]["volumeMounts"]
    assert {
        "name": "config",
        "mountPath": "/models/gpt2/config.pbtxt",
        "subPath": "config.pbtxt",
        "readOnly": True,
    } in mounts
    # A config change alone rolls the pods.
    local_hash = by_kind(rendered["gpt2", "local"], "Deployment")["spec"]["template"]["metadata"][
        "annotations"
    ]
    staging_hash = by_kind(rendered["gpt2", "staging"], "Deployment")["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert local_hash != staging_hash


def test_platform_objects(rendered):
    docs = rendered["yolo", "prod"]
    namespace = by_kind(docs, "Namespace")
    assert namespace["metadata"]["name"] == "creativeflow-ai-serving"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert by_kind(docs, "ServiceAccount")["automountServiceAccountToken"] is False
    role = by_kind(docs, "Role")
    assert role["metadata"]["name"] == "ai-model-server-role"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}
    ]
    binding = by_kind(docs, "RoleBinding")
    assert binding["metadata"]["name"] == "ai-model-server-rb"
    assert binding["roleRef"]["name"] == "ai-model-server-role"
    assert binding["subjects"][0]["name"] == "ai-model-server-sa"
    # The shared objects are their own instance, so pruning or deleting a model never touches them.
    assert {d["metadata"]["labels"]["app.kubernetes.io/instance"] for d in docs[:4]} == {
        "creativeflow-ai-serving"
    }


def test_to_yaml_round_trips_and_writes_config_files_as_blocks(rendered):
    docs = rendered["resnet50", "staging"]
    text = to_yaml(docs)
    assert list(yaml.safe_load_all(text)) == docs
    assert "models.config: |" in text


def test_adding_an_environment_is_adding_one_file(tmp_path: Path):
    root = copy_repo_data(tmp_path)
    data = read(root / "platform" / "environments" / "staging.yaml")
    data["namespace"] = "ai-serving-qa"
    data["models"]["yolo"]["autoscaling"]["maxReplicas"] = 7
    write(root / "platform" / "environments" / "qa.yaml", data)
    docs = render("yolo", "qa", root=root)
    assert {d["metadata"].get("namespace") for d in docs[1:]} == {"ai-serving-qa"}
    assert by_kind(docs, "Namespace")["metadata"]["name"] == "ai-serving-qa"
    assert by_kind(docs, "HorizontalPodAutoscaler")["spec"]["maxReplicas"] == 7


def test_runtime_class_name_goes_to_gpu_pods_only(rendered, tmp_path: Path):
    assert all("runtimeClassName" not in pod_spec(docs) for docs in rendered.values()), "none set today"
    root = copy_repo_data(tmp_path)
    path = root / "platform" / "environments" / "prod.yaml"
    data = read(path)
    data["cluster"]["gpuRuntimeClassName"] = "nvidia"
    write(path, data)
    for model in ("gpt2", "resnet50"):
        pod = pod_spec(render(model, "prod", root=root))
        assert pod["runtimeClassName"] == "nvidia", model
        assert "nvidia.com/mig-" in " ".join(pod["containers"][0]["resources"]["limits"])
    assert "runtimeClassName" not in pod_spec(render("yolo", "prod", root=root)), "yolo runs on CPU"


def test_an_environment_without_the_model_is_a_user_error(tmp_path: Path):
    root = copy_repo_data(tmp_path)
    path = root / "platform" / "environments" / "local.yaml"
    data = read(path)
    del data["models"]["gpt2"]
    write(path, data)
    with pytest.raises(UserError, match="no entry for model 'gpt2'") as caught:
        render("gpt2", "local", root=root)
    assert caught.value.file == str(path) and caught.value.field == "models.gpt2"


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(UserError, match="unknown model 'bert'; known models: gpt2, resnet50, yolo"):
        render("bert", "local")


@pytest.mark.parametrize("env", ENVS)
def test_every_model_renders_the_same_shared_objects(rendered, env):
    """Applying one model never rewrites what another model's apply wrote to the shared objects."""
    shared = [rendered[m, env][:4] for m in MODELS]
    assert shared[0] == shared[1] == shared[2]
