"""Environment files: the real ones load, and each kind of bad data is one UserError naming file and field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tools.errors import UserError
from tools.k8s.schema.environments import (
    MIG_PROFILES,
    known_environments,
    load_environment,
    load_environment_file,
)
from tools.k8s.tests.repo_copy import read, write
from tools.paths import REPO_ROOT

STAGING = REPO_ROOT / "platform" / "environments" / "staging.yaml"
LOCAL = REPO_ROOT / "platform" / "environments" / "local.yaml"


def test_the_three_environments_load():
    assert known_environments() == ["local", "prod", "staging"]
    local, staging, prod = (load_environment(name) for name in ("local", "staging", "prod"))
    assert local.cluster.kind == "podman" and local.models["yolo"].hostPorts == {"http": 18000, "grpc": 18001}
    assert staging.cluster.kind == "kubernetes" and staging.cluster.context == "creativeflow-staging"
    assert {e.namespace for e in (local, staging, prod)} == {"creativeflow-ai-serving"}
    assert staging.gpu_resource("gpt2") == "nvidia.com/gpu" and staging.gpu_resource("yolo") is None
    assert prod.features.enableAdvancedGPUFeaturesMIG
    assert prod.gpu_resource("gpt2") in MIG_PROFILES


def test_unknown_environment_lists_the_known_ones():
    with pytest.raises(UserError, match="unknown environment 'qa'; known environments: local, prod, staging"):
        load_environment("qa")


def _set(data: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    if value is _DELETE:
        del data[last]
    else:
        data[last] = value


_DELETE = object()

# (case, base file, edits {dotted path: value}, expected field, words in the message)
BAD_DATA = [
    ("unknown top-level field", STAGING, {"regsitry": "x"}, "regsitry", "Extra inputs are not permitted"),
    ("unknown model field", STAGING, {"models.yolo.replica": 2}, "models.yolo.replica", "Extra inputs"),
    (
        "negative replicas",
        LOCAL,
        {"models.yolo.replicas": -1},
        "models.yolo.replicas",
        "greater than or equal to 0",
    ),
    (
        "min > max",
        STAGING,
        {"models.yolo.autoscaling.minReplicas": 5},
        "models.yolo.autoscaling",
        "minReplicas (5) > maxReplicas (4)",
    ),
    ("replicas outside HPA bounds", STAGING, {"models.yolo.replicas": 9}, "models.yolo.replicas", "outside"),
    (
        "unknown MIG profile",
        STAGING,
        {"models.gpt2.gpu.migProfile": "nvidia.com/mig-9g.99gb"},
        "models.gpt2.gpu.migProfile",
        "nvidia.com/mig-1g.10gb",
    ),
    (
        "unknown GPU kind",
        STAGING,
        {"models.gpt2.gpu.kind": "amd.com/gpu"},
        "models.gpt2.gpu.kind",
        "nvidia.com/gpu",
    ),
    (
        "MIG on without a profile",
        STAGING,
        {"features.enableAdvancedGPUFeaturesMIG": True},
        "models.gpt2.gpu.migProfile",
        "needs a migProfile",
    ),
    (
        "toggle as a string",
        STAGING,
        {"features.enableModelSpecificMetrics": "yes"},
        "features",
        "valid boolean",
    ),
    ("registry with a tag", STAGING, {"registry": "registry.example.com/ai:1.0"}, "registry", "has a tag"),
    (
        "registry with a digest",
        STAGING,
        {"registry": "r.example.com/ai@sha256:" + "0" * 64},
        "registry",
        "has a digest",
    ),
    ("registry with a scheme", STAGING, {"registry": "https://r.example.com"}, "registry", "has a scheme"),
    ("newline injection", STAGING, {"namespace": "ns\nkind: Secret"}, "namespace", "'\\n'"),
    ("flow-mapping injection", STAGING, {"nodeSelector": {"pool": "{a: b}"}}, "nodeSelector.pool", "'{'"),
    ("injection in a key", STAGING, {"nodeSelector": {"a\nb": "x"}}, "nodeSelector", "'\\n'"),
    ("context injection", STAGING, {"cluster.context": "prod\n- x"}, "cluster.context", "'\\n'"),
    (
        "not a quantity",
        LOCAL,
        {"models.yolo.resources.limits.cpu": "2 cores"},
        "models.yolo.resources",
        "space",
    ),
    ("negative quantity", LOCAL, {"models.yolo.resources.limits.cpu": "-1"}, "models.yolo.resources", "zero"),
    (
        "requests above limits",
        LOCAL,
        {"models.yolo.resources.requests.memory": "8Gi"},
        "models.yolo.resources",
        "exceeds limits.memory",
    ),
    (
        "host ports on a cluster",
        STAGING,
        {"models.yolo.hostPorts": {"http": 18000}},
        "models.yolo.hostPorts",
        "podman",
    ),
    (
        "privileged host port",
        LOCAL,
        {"models.yolo.hostPorts": {"http": 80}},
        "models.yolo.hostPorts.http",
        "1024",
    ),
    (
        "host port taken twice",
        LOCAL,
        {"models.gpt2.hostPorts.http": 18000},
        "models.gpt2.hostPorts.http",
        "also used",
    ),
    (
        "host port of no port",
        LOCAL,
        {"models.yolo.hostPorts": {"metrics": 18009}},
        "models.yolo.hostPorts.metrics",
        "no port",
    ),
    (
        "unknown model",
        LOCAL,
        {"models.bert": read(LOCAL)["models"]["yolo"]},
        "models.bert",
        "known models: gpt2, resnet50, yolo",
    ),
    ("context on podman", LOCAL, {"cluster.context": "kind-x"}, "cluster", "only meaningful"),
    (
        "runtime class on podman",
        LOCAL,
        {"cluster.gpuRuntimeClassName": "nvidia"},
        "cluster.gpuRuntimeClassName",
        "only a kubernetes cluster has RuntimeClasses",
    ),
    (
        "runtime class not a DNS name",
        STAGING,
        {"cluster.gpuRuntimeClassName": "NVIDIA_runtime"},
        "cluster.gpuRuntimeClassName",
        "is not valid",
    ),
    (
        "runtime class as a list",
        STAGING,
        {"cluster.gpuRuntimeClassName": ["nvidia"]},
        "cluster.gpuRuntimeClassName",
        "valid string",
    ),
    (
        "bad toleration",
        STAGING,
        {"tolerations": [{"operator": "Exists", "value": "x"}]},
        "tolerations.0",
        "no value",
    ),
    (
        "missing resources",
        LOCAL,
        {"models.yolo.resources": _DELETE},
        "models.yolo.resources",
        "Field required",
    ),
    ("name differs from file", LOCAL, {"name": "prod"}, "name", "differs from the file name"),
    (
        "plain HTTP to a remote registry",
        STAGING,
        {"registryTLS.insecure": True},
        "registryTLS.insecure",
        "loopback",
    ),
    ("insecure given as text", LOCAL, {"registryTLS.insecure": "yes"}, "registryTLS.insecure", "boolean"),
    (
        "missing CA file",
        STAGING,
        {"registryTLS.caFile": "platform/no-ca.pem"},
        "registryTLS.caFile",
        "not a file",
    ),
    (
        "CA file and insecure",
        LOCAL,
        {"registryTLS.caFile": "platform/README.md"},
        "registryTLS",
        "meaningless",
    ),
]


@pytest.mark.parametrize(("case", "base", "edits", "field", "words"), BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_bad_environment_data_names_file_and_field(tmp_path: Path, case, base, edits, field, words):
    data = copy.deepcopy(read(base))
    for dotted, value in edits.items():
        if dotted.startswith("nodeSelector") and isinstance(value, dict):
            data["nodeSelector"] = value
        else:
            _set(data, dotted, value)
    path = write(tmp_path / base.name, data)
    with pytest.raises(UserError) as caught:
        load_environment_file(path)
    error = caught.value
    assert error.file == str(path), case
    assert error.field is not None and error.field.startswith(field), (case, error.field)
    assert words in error.message, (case, error.message)
    assert "\n" not in str(error).replace("\\n", ""), "one line"


def test_invalid_yaml_and_non_mapping_are_user_errors(tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("registry: [unclosed\n")
    with pytest.raises(UserError, match="invalid YAML") as caught:
        load_environment_file(broken)
    assert caught.value.file == str(broken)
    listed = tmp_path / "listed.yaml"
    listed.write_text("- registry: x\n")
    with pytest.raises(UserError, match="must be a mapping"):
        load_environment_file(listed)


def test_unquoted_numbers_are_quantities(tmp_path: Path):
    """``cpu: 2`` is how people write it; YAML makes it an int, the schema makes it "2"."""
    data = read(LOCAL)
    data["models"]["yolo"]["resources"]["limits"]["cpu"] = 2
    data["models"]["yolo"]["resources"]["requests"]["cpu"] = 0.5
    env = load_environment_file(write(tmp_path / "local.yaml", data))
    assert env.models["yolo"].resources.limits.cpu == "2"
    assert env.models["yolo"].resources.requests.cpu == "0.5"


def test_a_mig_profile_may_be_the_kind_itself(tmp_path: Path):
    data = read(REPO_ROOT / "platform" / "environments" / "prod.yaml")
    data["models"]["gpt2"]["gpu"] = {"kind": "nvidia.com/mig-2g.20gb", "count": 2}
    env = load_environment_file(write(tmp_path / "prod.yaml", data))
    assert env.gpu_resource("gpt2") == "nvidia.com/mig-2g.20gb"
    assert env.gpu_resource("resnet50") == "nvidia.com/mig-1g.10gb", "kind nvidia.com/gpu + migProfile"


def test_the_gpu_runtime_class_is_the_clusters_and_only_gpu_models_take_it(tmp_path: Path):
    staging, prod = load_environment("staging"), load_environment("prod")
    assert staging.cluster.gpuRuntimeClassName is None, "the GPU Operator's default runtime: none needed"
    assert staging.runtime_class("gpt2") is None
    data = read(STAGING)
    data["cluster"]["gpuRuntimeClassName"] = "nvidia-cdi"
    env = load_environment_file(write(tmp_path / "staging.yaml", data))
    assert env.runtime_class("gpt2") == env.runtime_class("resnet50") == "nvidia-cdi"
    assert env.runtime_class("yolo") is None, "a CPU pod never names the GPU runtime"
    # Where the resource a GPU pod asks for is written: the preflight's errors point there.
    assert staging.gpu_resource_field("gpt2") == "models.gpt2.gpu.kind"
    assert prod.gpu_resource_field("gpt2") == "models.gpt2.gpu.migProfile"


def test_a_repeated_key_is_an_error_not_a_silent_override(tmp_path: Path):
    text = LOCAL.read_text()
    yolo_block = text[text.index("  yolo:\n") : text.index("  gpt2:\n")]
    path = tmp_path / "local.yaml"
    path.write_text(text + yolo_block)  # the yolo block pasted twice
    with pytest.raises(UserError, match=r"duplicate key 'yolo' \(first on line \d+\)") as caught:
        load_environment_file(path)
    assert caught.value.file == str(path) and caught.value.field.startswith("line ")
