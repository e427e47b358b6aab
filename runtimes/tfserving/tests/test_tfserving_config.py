"""models.config and monitoring.config: rendered, then parsed back with the real TF Serving protos.

Runs in the fast path: the protos need only protobuf and tensorflow-serving-api (--no-deps).
The hand-written files below use the text-format style of TF Serving's guide (serving_config):
commas between fields, a colon before a nested message, single-quoted strings.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from runtimes.tfserving.config import (
    All,
    Latest,
    ModelEntry,
    MonitoringSettings,
    ServerConfig,
    Specific,
    VersionPolicy,
    check_models_config,
    check_monitoring_config,
    render_models_config,
    render_monitoring_config,
)
from runtimes.tfserving.deploy_config import config_files, readiness_path, server_command
from runtimes.tfserving.protos import MONITORING_MESSAGE, monitoring_config_class
from tools.errors import UserError
from tools.paths import REPO_ROOT

# Two models, each config in the guide's style; base paths left as placeholders to fill in.
GUIDE_STYLE_MODELS = """model_config_list: {
  config: {
    name: 'first_model',
    base_path: '${FIRST}',
    model_platform: 'tensorflow'
  },
  config: {
    name: 'second_model',
    base_path: '${SECOND}',
    model_platform: 'tensorflow'
  }
}
"""
GUIDE_STYLE_MONITORING = """prometheus_config: {
  enable: true,
  path: '/monitoring/prometheus/metrics'
}
"""


def test_rendered_models_config_parses_back_with_every_field():
    config = ServerConfig(
        models=[
            ModelEntry(
                name="resnet50",
                base_path="/models/resnet50",
                version_policy=VersionPolicy(specific=Specific(versions=[1, 2])),
                version_labels={"stable": 1, "canary": 2},
            ),
            ModelEntry(name="other", base_path="gs://bucket/other", version_policy=VersionPolicy(all=All())),
            ModelEntry(name="third", base_path="/models/third"),
        ]
    )
    text = render_models_config(config, labels_before_load=True)
    message = check_models_config(text, file="t", labels_before_load=True)
    first, second, third = message.model_config_list.config
    assert (first.name, first.base_path) == ("resnet50", "/models/resnet50")
    assert first.model_platform == "tensorflow"
    assert list(first.model_version_policy.specific.versions) == [1, 2]
    assert dict(first.version_labels) == {"stable": 1, "canary": 2}
    assert second.model_version_policy.WhichOneof("policy_choice") == "all"
    assert third.model_version_policy.latest.num_versions == 1


def test_config_files_contract_for_resnet50():
    files = config_files(REPO_ROOT / "models" / "resnet50", "resnet50", gpu=False)
    assert set(files) == {"models.config", "monitoring.config"}
    models = check_models_config(files["models.config"], file="models.config")
    (entry,) = models.model_config_list.config
    assert (entry.name, entry.base_path) == ("resnet50", "/models/resnet50")
    monitoring = check_monitoring_config(files["monitoring.config"], file="monitoring.config")
    assert monitoring.prometheus_config.enable
    assert monitoring.prometheus_config.path == "/monitoring/prometheus/metrics"
    assert files["models.config"].startswith("# Rendered by runtimes/tfserving/deploy_config.py")
    # The GPU variant is a different image, not a different config.
    assert config_files(REPO_ROOT / "models" / "resnet50", "resnet50", gpu=True) == files


def test_server_command_points_at_the_configmap_files():
    command = server_command()
    assert command[0] == "/usr/bin/tensorflow_model_server"
    assert "--model_config_file=/config/models.config" in command
    assert "--monitoring_config_file=/config/monitoring.config" in command
    assert {"--port=8500", "--rest_api_port=8501"} <= set(command)
    assert readiness_path("resnet50") == "/v1/models/resnet50"


def test_guide_style_models_config_parses_once_its_paths_are_filled_in():
    # Unfilled, the paths are relative, which TF Serving rejects, and so do we.
    with pytest.raises(UserError, match="absolute path or a URI") as caught:
        check_models_config(GUIDE_STYLE_MODELS, file="models.config")
    assert caught.value.field == "model_config_list.config[0].base_path"
    filled = GUIDE_STYLE_MODELS.replace("${FIRST}", "/m/1").replace("${SECOND}", "gs://b/m/2")
    configs = check_models_config(filled, file="x").model_config_list.config
    assert [(c.name, c.base_path) for c in configs] == [
        ("first_model", "/m/1"),
        ("second_model", "gs://b/m/2"),
    ]


def test_text_that_is_no_proto_is_a_parse_error_with_a_position():
    with pytest.raises(UserError, match="not a valid ModelServerConfig text proto") as caught:
        check_models_config("improperly formatted file\n", file="bad.txt")
    assert caught.value.file == "bad.txt"
    assert caught.value.field.startswith("line 1, column ")


def test_guide_style_monitoring_config_parses():
    message = check_monitoring_config(GUIDE_STYLE_MONITORING, file="m")
    assert message.prometheus_config.enable is True
    assert message.prometheus_config.path == "/monitoring/prometheus/metrics"
    assert type(message).DESCRIPTOR.full_name == MONITORING_MESSAGE == "tensorflow.serving.MonitoringConfig"


def test_monitoring_message_has_the_documented_fields_and_nothing_else():
    descriptor = monitoring_config_class().DESCRIPTOR
    (prometheus,) = descriptor.fields
    assert (prometheus.name, prometheus.number, prometheus.message_type.full_name) == (
        "prometheus_config",
        1,
        "tensorflow.serving.PrometheusConfig",
    )
    fields = {f.name: (f.number, f.type) for f in prometheus.message_type.fields}
    assert fields == {"enable": (1, prometheus.TYPE_BOOL), "path": (2, prometheus.TYPE_STRING)}
    # A private pool: nothing named tensorflow.serving.* is added to protobuf's default pool.
    from google.protobuf import descriptor_pool

    with pytest.raises(KeyError):
        descriptor_pool.Default().FindMessageTypeByName(MONITORING_MESSAGE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prometheus_config { enable: true port: 9090 }", 'no field named "port"'),
        ('prometheus_config { enable: "yes" }', 'Expected "true" or "false"'),
        ("prometheus { enable: true }", 'no field named "prometheus"'),
    ],
)
def test_bad_monitoring_config_is_a_parse_error(text, message):
    with pytest.raises(UserError, match=message) as caught:
        check_monitoring_config(text, file="monitoring.config")
    assert caught.value.file == "monitoring.config"
    assert caught.value.field.startswith("line 1, column ")


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (
            'model_config_list { config { name: "a" model_platform: "tensorflow" } }',
            "base_path",
            "no base_path",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/a" model_platform: "tensorflow" } '
            'config { name: "a" base_path: "/b" model_platform: "tensorflow" } }',
            "config[1].name",
            "listed more than once",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/a" model_platform: "tensorflow" '
            "model_version_policy { specific { } } } }",
            "specific.versions",
            "lists no versions",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/a" model_platform: "tensorflow" '
            'model_version_policy { specific { versions: 1 } } version_labels { key: "s" value: 2 } } }',
            "version_labels.s",
            "assigns labels before it loads the versions",
        ),
        ('model_config_list { config { name: "a" base_path: "/a" } }', ".model_platform", "tensorflow"),
        ('model_config_list { config { base_path: "/a" model_platform: "tensorflow" } }', ".name", "missing"),
        ("model_config_list { }", "model_config_list", "no config entries"),
        (
            'model_config_list { config { name: "a" base_path: "/a" model_type: OTHER } }',
            ".model_type",
            "only",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/a" model_type: TENSORFLOW '
            'model_platform: "tensorflow" } }',
            "config[0]",
            "model_platform only",
        ),
        ('model_config_list { config { name: "a" versions: 3 } }', "line 1, column", "no field named"),
    ],
)
def test_bad_models_config_names_the_field(text, field, message):
    with pytest.raises(UserError, match=message) as caught:
        check_models_config(text, file="models.config")
    assert caught.value.file == "models.config"
    assert field in caught.value.field


def test_duplicate_model_names_fail_at_render_time():
    twice = ServerConfig(models=[ModelEntry(name="a", base_path="/a"), ModelEntry(name="a", base_path="/b")])
    with pytest.raises(UserError, match="listed more than once"):
        render_models_config(twice)


def test_bad_monitoring_path_fails_both_ways():
    with pytest.raises(ValueError, match="should match pattern"):
        MonitoringSettings(prometheus_path="metrics")
    with pytest.raises(UserError) as caught:
        check_monitoring_config('prometheus_config { enable: true path: "metrics" }', file="m")
    assert caught.value.field == "prometheus_config.path"
    assert "enable: true" in render_monitoring_config(MonitoringSettings())


@pytest.mark.parametrize(
    ("yaml_text", "field", "message"),
    [
        ("version_policy: {latest: {num_versions: 1}, all: {}}", None, "exactly one of"),
        ("version_policy: {}", None, "exactly one of"),
        ("version_policy: {specific: {versions: []}}", "version_policy.specific.versions", "at least 1"),
        ("version_policy: {specific: {versions: [1, 1]}}", "version_policy.specific", "unique"),
        ("version_policy: {latest: {num_versions: 0}}", "version_policy.latest.num_versions", "than 0"),
        ("version_policy: {newest: {}}", "version_policy.newest", "Extra inputs"),
        ("version_labels: {stable: -1}", "version_labels.stable", "greater than or equal to 0"),
        ("base_path: /elsewhere", "name/base_path", "set by the platform"),
        ("- a list", None, "expected a mapping"),
        # A mid-line error: libyaml (the loader the repo uses) places an unexpected end of file on
        # the line after the last, PyYAML's Python parser on the last.
        ("version_policy: [1, 2}", "line 1, column 22", "invalid YAML"),
    ],
)
def test_bad_model_settings_file_names_file_and_field(tmp_path, yaml_text, field, message):
    (tmp_path / "tfserving.yaml").write_text(yaml_text)
    with pytest.raises(UserError, match=message) as caught:
        config_files(tmp_path, "resnet50", gpu=False)
    assert caught.value.file == str(tmp_path / "tfserving.yaml")
    if field is not None:
        assert caught.value.field.startswith(field)


def test_version_labels_fail_before_deploy_as_they_would_at_server_start(tmp_path):
    # server_core.cc ReloadConfig assigns labels before loading: without the flag the server exits.
    settings = "version_policy: {specific: {versions: [1]}}\nversion_labels: {stable: 1}\n"
    (tmp_path / "tfserving.yaml").write_text(settings)
    with pytest.raises(UserError, match="--allow_version_labels_for_unavailable_models") as caught:
        config_files(tmp_path, "resnet50", gpu=False)
    assert caught.value.field == "model_config_list.config[0].version_labels.stable"


def test_with_the_flag_a_label_must_still_point_at_a_served_version():
    text = (
        'model_config_list { config { name: "a" base_path: "/a" model_platform: "tensorflow" '
        'model_version_policy { specific { versions: 1 } } version_labels { key: "s" value: 2 } } }'
    )
    with pytest.raises(UserError, match="which the specific policy does not serve") as caught:
        check_models_config(text, file="m", labels_before_load=True)
    assert caught.value.field == "model_config_list.config[0].version_labels.s"
    fixed = text.replace("value: 2", "value: 1")
    assert dict(
        check_models_config(fixed, file="m", labels_before_load=True)
        .model_config_list.config[0]
        .version_labels
    ) == {"s": 1}


def test_bad_model_name_points_at_model_yaml(tmp_path):
    with pytest.raises(UserError, match="must match") as caught:
        config_files(tmp_path, "ResNet 50", gpu=False)
    assert (caught.value.file, caught.value.field) == (str(tmp_path / "model.yaml"), "name")


def test_policy_defaults_to_latest_one():
    assert ModelEntry(name="a", base_path="/a").version_policy == VersionPolicy(latest=Latest(num_versions=1))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runtimes.tfserving", *args], capture_output=True, text=True, cwd=REPO_ROOT
    )


def test_cli_renders_files_that_its_check_accepts(tmp_path):
    rendered = _cli("render", "models/resnet50", "resnet50", "--out", str(tmp_path))
    assert rendered.returncode == 0, rendered.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models.config", "monitoring.config"]
    checked = _cli(
        "check",
        "--models",
        str(tmp_path / "models.config"),
        "--monitoring",
        str(tmp_path / "monitoring.config"),
    )
    assert (checked.returncode, checked.stdout) == (0, "ok\n"), checked.stderr


def test_cli_check_reports_a_bad_file_in_one_line(tmp_path):
    bad = tmp_path / "models.config"
    bad.write_text(
        'model_config_list { config { name: "a" base_path: "relative/path" model_platform: "tensorflow" } }'
    )
    result = _cli("check", "--models", str(bad))
    assert result.returncode == 2
    assert result.stderr == (
        f"error: {bad}: model_config_list.config[0].base_path: "
        "must be an absolute path or a URI, got 'relative/path'\n"
    )
    missing = _cli("check", "--models", str(tmp_path / "nope.config"))
    assert (missing.returncode, missing.stderr) == (
        2,
        f"error: {tmp_path / 'nope.config'}: cannot read: No such file or directory\n",
    )
