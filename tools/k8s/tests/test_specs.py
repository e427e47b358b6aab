"""runtime.yaml, model.yaml and platform.yaml: the real files load; bad ones name file and field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tools.errors import UserError
from tools.k8s.render import render
from tools.k8s.schema.specs import (
    ModelSpec,
    PlatformSpec,
    RuntimeSpec,
    known_models,
    load_model,
    load_platform,
    load_runtime,
    load_spec,
    model_dir,
)
from tools.k8s.tests.repo_copy import copy_repo_data, read, write
from tools.paths import REPO_ROOT


def test_the_real_files_load():
    assert known_models() == ["gpt2", "resnet50", "yolo", "yolo-torchserve"]
    runtimes = {load_model(m).runtime for m in known_models()}
    assert runtimes == {"fastapi", "triton", "tfserving", "torchserve"}
    for runtime in runtimes:
        assert load_runtime(runtime).name == runtime
    assert load_platform().role.rules[0].verbs == ["get", "list", "watch"]


def test_a_model_named_with_a_dash_lives_in_a_package_with_an_underscore():
    # Kubernetes names take no "_", Python packages no "-": one name, two spellings.
    assert model_dir("yolo-torchserve") == REPO_ROOT / "models" / "yolo_torchserve"
    assert str(load_model("yolo-torchserve").images.label("cpu")) == "//models/yolo_torchserve:image"
    with pytest.raises(UserError, match="unknown model 'yolo_torchserve'"):
        load_model("yolo_torchserve")


def test_tfserving_command_is_the_runtime_contract():
    """runtime.yaml spells out the command runtimes/tfserving/deploy_config.py defines."""
    from runtimes.tfserving.deploy_config import server_command

    spec = load_runtime("tfserving")
    assert [*spec.command, *spec.args] == server_command()


RUNTIME = REPO_ROOT / "runtimes" / "triton" / "runtime.yaml"
MODEL = REPO_ROOT / "models" / "yolo" / "model.yaml"
PLATFORM = REPO_ROOT / "platform" / "platform.yaml"

# (case, file, schema, edit(data), field, words)
BAD = [
    ("unknown runtime key", RUNTIME, RuntimeSpec, lambda d: d.update(portz=[]), "portz", "Extra inputs"),
    (
        "probe on a missing port",
        RUNTIME,
        RuntimeSpec,
        lambda d: d["probes"]["readiness"]["httpGet"].update(port="web"),
        None,
        "probes.readiness names port 'web'",
    ),
    (
        "a port placeholder naming no port",
        REPO_ROOT / "runtimes" / "fastapi" / "runtime.yaml",
        RuntimeSpec,
        lambda d: d["env"].update(SERVER_PORT="{port:web}"),
        None,
        "env.SERVER_PORT uses {port:web}",
    ),
    (
        "probe with two handlers",
        RUNTIME,
        RuntimeSpec,
        lambda d: d["probes"]["liveness"].update(tcpSocket={"port": "grpc"}),
        "probes.liveness",
        "exactly one of httpGet or tcpSocket",
    ),
    (
        "config mounted two ways",
        RUNTIME,
        RuntimeSpec,
        lambda d: d["config"].update(mountPath="/config"),
        "config",
        "exactly one of mountPath or files",
    ),
    (
        "port out of range",
        RUNTIME,
        RuntimeSpec,
        lambda d: d["ports"][0].update(containerPort=70000),
        "ports.0",
        "65535",
    ),
    ("env value injection", RUNTIME, RuntimeSpec, lambda d: d.update(env={"A": "x\ny: z"}), "env.A", "'\\n'"),
    (
        "bad metric name",
        RUNTIME,
        RuntimeSpec,
        lambda d: d["gpuAutoscalingMetric"].update(name="a-b"),
        "gpu",
        "Prom",
    ),
    (
        "image not a label",
        MODEL,
        ModelSpec,
        lambda d: d["images"].update(cpu="yolo:latest"),
        "images.cpu",
        "not a Bazel label",
    ),
    (
        "staged signature check without a command",
        REPO_ROOT / "runtimes" / "tfserving" / "runtime.yaml",
        RuntimeSpec,
        lambda d: d["modelSignature"].update(initCommand=[], publicKeyEnv="MODEL_KEY"),
        "modelSignature",
        "staged runs initCommand",
    ),
    (
        "verifier image not a label",
        REPO_ROOT / "runtimes" / "tfserving" / "runtime.yaml",
        RuntimeSpec,
        lambda d: d["modelSignature"]["staged"].update(verifierImage="fastapi:latest"),
        "modelSignature.staged.verifierImage",
        "not a Bazel label",
    ),
    ("numeric version", MODEL, ModelSpec, lambda d: d.update(version=1), "version", "valid string"),
    (
        "wildcard verb",
        PLATFORM,
        PlatformSpec,
        lambda d: d["role"]["rules"][0].update(verbs=["*"]),
        "role",
        "'get'",
    ),
    (
        "write verb",
        PLATFORM,
        PlatformSpec,
        lambda d: d["role"]["rules"][0].update(verbs=["delete"]),
        "role",
        "'get'",
    ),
    (
        "wildcard resource",
        PLATFORM,
        PlatformSpec,
        lambda d: d["role"]["rules"][0].update(resources=["*"]),
        "role.rules.0.resources.0",
        "'*'",
    ),
]


@pytest.mark.parametrize(("case", "path", "schema", "edit", "field", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_spec_names_file_and_field(tmp_path: Path, case, path, schema, edit, field, words):
    data = copy.deepcopy(read(path))
    edit(data)
    bad = write(tmp_path / path.name, data)
    with pytest.raises(UserError) as caught:
        load_spec(bad, schema)
    assert caught.value.file == str(bad)
    if field is None:
        assert caught.value.field is None
    else:
        assert caught.value.field and caught.value.field.startswith(field), caught.value.field
    assert words in caught.value.message, caught.value.message


def test_model_name_must_match_its_directory(tmp_path: Path):
    root = copy_repo_data(tmp_path)
    path = root / "models" / "yolo" / "model.yaml"
    write(path, {**read(path), "name": "yolo2"})
    with pytest.raises(UserError, match="differs from the directory") as caught:
        load_model("yolo", root)
    assert caught.value.field == "name"


def test_a_missing_config_hook_is_named(tmp_path: Path):
    root = copy_repo_data(tmp_path)
    path = root / "runtimes" / "triton" / "runtime.yaml"
    data = read(path)
    data["config"]["module"] = "runtimes.triton.no_such_hook"
    write(path, data)
    with pytest.raises(UserError, match=r"'runtimes\.triton\.no_such_hook' does not exist") as caught:
        render("gpt2", "local", root=root)
    assert caught.value.file == str(path) and caught.value.field == "config.module"


def test_hook_files_must_match_the_mounts(tmp_path: Path):
    root = copy_repo_data(tmp_path)
    path = root / "runtimes" / "triton" / "runtime.yaml"
    data = read(path)
    data["config"]["files"] = {"model.pbtxt": "/models/{model}/model.pbtxt"}
    write(path, data)
    with pytest.raises(UserError, match=r"made \['config.pbtxt'\], runtime.yaml mounts \['model.pbtxt'\]"):
        render("gpt2", "local", root=root)


def test_a_hook_error_reaches_the_user(tmp_path: Path):
    """A broken template is reported by the runtime's own hook, as a UserError naming its file."""
    root = copy_repo_data(tmp_path)
    template = root / "models" / "gpt2" / "model_repository" / "gpt2" / "config.pbtxt.tmpl"
    template.write_text(template.read_text() + "\n${no_such_value}\n")
    with pytest.raises(UserError, match="no_such_value") as caught:
        render("gpt2", "staging", root=root)
    assert caught.value.file == str(template)


def test_a_port_is_written_once_and_its_uses_follow(tmp_path: Path):
    """fastapi's SERVER_PORT is ``{port:http}``: changing the port changes what the server is told."""
    root = copy_repo_data(tmp_path)
    path = root / "runtimes" / "fastapi" / "runtime.yaml"
    data = read(path)
    data["ports"][0]["containerPort"] = 8080
    write(path, data)
    (deployment,) = [d for d in render("yolo", "staging", root=root) if d["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert container["ports"][0]["containerPort"] == 8080 and env["SERVER_PORT"] == "8080"
