"""resolve: every image pinned as registry/repo@sha256 from the digest files; never a tag."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from tools.errors import UserError
from tools.k8s.render.resolve import resolve
from tools.k8s.schema.catalog import Catalog
from tools.labels import Label
from tools.paths import image_digest_file
from tools.testing.cli import servectl

YOLO = "//models/yolo:image"


def fake_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def build_dir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("CF_BUILD_DIR", str(tmp_path / "build"))
    return tmp_path / "build"


def write_digest(label: str, text: str) -> Path:
    path = image_digest_file(Label.parse(label))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def images(docs: list[dict]) -> list[str]:
    return [
        c["image"]
        for d in docs
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    ]


def test_digest_is_read_from_the_image_build_output(build_dir):
    digest = fake_digest("yolo")
    write_digest(YOLO, digest + "\n")
    assert images(resolve("yolo", "local")) == [f"127.0.0.1:5000/models/yolo/image@{digest}"]
    assert images(resolve("yolo", "prod")) == [
        f"registry.creativeflow.example/ai-serving/models/yolo/image@{digest}"
    ]


def test_override_wins_over_the_digest_file(build_dir):
    write_digest(YOLO, fake_digest("on disk") + "\n")
    override = fake_digest("override")
    (image,) = images(resolve("yolo", "staging", {YOLO: override}))
    assert image.endswith(f"/models/yolo/image@{override}")


def test_missing_digest_file_is_an_error_naming_it(build_dir):
    with pytest.raises(UserError, match="no image digest: build the image first") as caught:
        resolve("gpt2", "local")
    assert caught.value.file == str(build_dir / "images" / "models" / "gpt2" / "image.digest")


@pytest.mark.parametrize(
    "content",
    ["latest\n", "sha256:abc\n", "sha512:" + "0" * 64, "SHA256:" + "A" * 64, "", "sha256:" + "g" * 64],
    ids=["tag", "short", "sha512", "uppercase", "empty", "not-hex"],
)
def test_malformed_digest_file_is_an_error_naming_it(build_dir, content):
    path = write_digest(YOLO, content)
    with pytest.raises(UserError, match="not an image digest") as caught:
        resolve("yolo", "local")
    assert caught.value.file == str(path)


def test_malformed_override_is_an_error():
    with pytest.raises(UserError, match="not an image digest: 'latest'") as caught:
        resolve("yolo", "local", {YOLO: "latest"})
    assert caught.value.field == YOLO


def test_no_tag_ever_reaches_the_output():
    for model in ("yolo", "gpt2", "resnet50"):
        # staging: gpt2, resnet50 on GPU, and resnet50's signature check in the fastapi image
        labels = Catalog().image_labels(model)
        docs = resolve(model, "staging", {str(label): fake_digest(model) for label in labels})
        for image in images(docs):
            name, _, digest = image.partition("@")
            assert digest == fake_digest(model)
            assert ":" not in name.rsplit("/", 1)[-1], "no tag"


# --- the CLI, as users and the Bazel targets run it --------------------------------------------


def test_cli_prints_the_complete_ordered_yaml(tmp_path: Path):
    digest_file = tmp_path / "image.digest"
    digest_file.write_text(fake_digest("from bazel") + "\n")
    proc = servectl("resolve", "yolo", "--env", "staging", "--digest-file", f"{YOLO}={digest_file}")
    assert proc.returncode == 0, proc.stderr
    docs = list(yaml.safe_load_all(proc.stdout))
    assert [d["kind"] for d in docs][:4] == ["Namespace", "ServiceAccount", "Role", "RoleBinding"]
    assert images(docs) == [
        f"registry.staging.creativeflow.example/ai-serving/models/yolo/image@{fake_digest('from bazel')}"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resolve", "bert"], "error: unknown model 'bert'; known models: gpt2, resnet50, yolo"),
        (
            ["resolve", "yolo", "--env", "qa"],
            "error: unknown environment 'qa'; known environments: local, prod, staging",
        ),
        (["resolve", "yolo", "--digest", f"{YOLO}=latest"], "not an image digest: 'latest'"),
        (["resolve", "yolo", "--digest", "nolabel"], "--digest expects LABEL=VALUE"),
        (["resolve", "yolo"], "image.digest: no image digest: build the image first"),
    ],
    ids=["unknown-model", "unknown-env", "bad-digest", "bad-flag", "missing-digest-file"],
)
def test_cli_errors_are_one_line_and_exit_2(tmp_path: Path, args, message):
    proc = servectl(*args, env={"CF_BUILD_DIR": str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_cli_json_is_a_list_of_the_same_objects(tmp_path: Path):
    digest_file = tmp_path / "image.digest"
    digest_file.write_text(fake_digest("json") + "\n")
    args = ("resolve", "yolo", "--env", "staging", "--digest-file", f"{YOLO}={digest_file}")

    as_json, as_yaml = servectl(*args, "-o", "json"), servectl(*args)

    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["apiVersion"] == "v1" and document["kind"] == "List"
    assert document["items"] == list(yaml.safe_load_all(as_yaml.stdout))
    assert servectl(*args, "-o", "json").stdout == as_json.stdout, "same inputs, same bytes"


def test_cli_json_errors_name_file_and_field_on_stdout_and_exit_2(tmp_path: Path):
    proc = servectl("resolve", "yolo", "-o", "json", env={"CF_BUILD_DIR": str(tmp_path)})

    assert proc.returncode == 2
    error = json.loads(proc.stdout)
    assert error["schema"] == "servectl.error/v1"
    assert error["error"]["file"].endswith("image.digest")
    assert error["error"]["message"].startswith("no image digest: build the image first")
    assert proc.stderr.startswith("error: "), "the text line stays on stderr"


def test_cli_writes_a_file_with_to(tmp_path: Path):
    digest_file = tmp_path / "image.digest"
    digest_file.write_text(fake_digest("to") + "\n")
    out = tmp_path / "out.yaml"

    proc = servectl(
        "resolve", "yolo", "--env", "staging", "--digest-file", f"{YOLO}={digest_file}", "--to", str(out)
    )

    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    assert next(d["kind"] for d in yaml.safe_load_all(out.read_text())) == "Namespace"
