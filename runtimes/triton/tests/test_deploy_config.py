"""config.pbtxt rendering: one template, KIND_CPU or KIND_GPU, parsed with Triton's own proto."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from runtimes.triton.deploy_config import TEMPLATE_NAME, config_files
from tools.errors import UserError
from tools.paths import REPO_ROOT

GPT2 = REPO_ROOT / "models" / "gpt2"

MINIMAL = """name: "${model_name}"
backend: "python"
max_batch_size: 4
instance_group [ { count: 1 kind: ${instance_kind} } ]
"""


def _parse(text: str):
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def _template(tmp_path: Path, text: str, name: str = "m") -> Path:
    model_dir = tmp_path / name
    model_dir.mkdir()
    (model_dir / TEMPLATE_NAME).write_text(text)
    return model_dir


@pytest.mark.parametrize(("gpu", "kind"), [(False, "KIND_CPU"), (True, "KIND_GPU")])
def test_gpt2_renders_one_instance_kind_per_environment(gpu, kind):
    files = config_files(GPT2, "gpt2", gpu)
    assert list(files) == ["config.pbtxt"]
    config = _parse(files["config.pbtxt"])
    assert config.name == "gpt2"
    assert config.backend == "python"
    assert [model_config_pb2.ModelInstanceGroup.Kind.Name(g.kind) for g in config.instance_group] == [kind]
    assert config.max_batch_size > 1
    assert config.HasField("dynamic_batching")
    assert [i.name for i in config.input] == ["text", "max_new_tokens", "temperature"]
    assert [i.optional for i in config.input] == [False, True, True]
    assert [o.name for o in config.output] == ["generated_text"]


def test_the_two_environments_differ_only_in_the_instance_kind():
    cpu = config_files(GPT2, "gpt2", False)["config.pbtxt"].splitlines()
    gpu = config_files(GPT2, "gpt2", True)["config.pbtxt"].splitlines()
    changed = [(a.strip(), b.strip()) for a, b in zip(cpu, gpu, strict=True) if a != b]
    assert changed == [("kind: KIND_CPU", "kind: KIND_GPU")]


def test_the_model_dir_itself_may_hold_the_template(tmp_path):
    model_dir = _template(tmp_path, MINIMAL, "tiny")
    assert _parse(config_files(model_dir, "tiny", False)["config.pbtxt"]).name == "tiny"


@pytest.mark.parametrize("name", ["", "../etc", "has space", "-leading", None])
def test_bad_model_names_are_refused(name):
    with pytest.raises(UserError, match="not a valid Triton model name"):
        config_files(GPT2, name, False)


@pytest.mark.parametrize("gpu", ["yes", 1, None])
def test_gpu_must_be_a_bool(gpu):
    with pytest.raises(UserError, match="gpu must be true or false") as raised:
        config_files(GPT2, "gpt2", gpu)
    assert raised.value.file.endswith(TEMPLATE_NAME)


def test_missing_template_names_where_it_looked(tmp_path):
    with pytest.raises(UserError, match=f"no {TEMPLATE_NAME} for model 'gpt2'") as raised:
        config_files(tmp_path, "gpt2", False)
    assert str(tmp_path / "model_repository" / "gpt2" / TEMPLATE_NAME) in str(raised.value)


@pytest.mark.parametrize(
    ("template", "message", "field"),
    [
        (MINIMAL + "dynamic_batching { ${batch_delay} }\n", r"unknown placeholder \$\{batch_delay\}", None),
        (MINIMAL + "cost: $5\n", "bad placeholder", None),
        (
            MINIMAL.replace("max_batch_size: 4", "max_batch_size: four"),
            "not a valid Triton model config",
            None,
        ),
        (MINIMAL + "no_such_field: 1\n", "not a valid Triton model config", None),
        (MINIMAL.replace('"${model_name}"', '"other"'), "is not the model name 'm'", "name"),
        (MINIMAL.replace('backend: "python"', ""), "neither a backend nor a platform", "backend"),
        (MINIMAL.replace("${instance_kind}", "KIND_GPU"), "needs only KIND_CPU", "instance_group"),
        (MINIMAL.replace("instance_group [ { count: 1 kind: ${instance_kind} } ]", ""), "are none", None),
    ],
    ids=[
        "unknown placeholder",
        "lone dollar",
        "bad value",
        "unknown field",
        "name mismatch",
        "no backend",
        "hard-coded kind",
        "no instance group",
    ],
)
def test_bad_templates_are_user_errors_naming_the_file(tmp_path, template, message, field):
    model_dir = _template(tmp_path, template)
    with pytest.raises(UserError, match=message) as raised:
        config_files(model_dir, "m", False)
    assert raised.value.file == str(model_dir / TEMPLATE_NAME)
    if field:
        assert raised.value.field == field
