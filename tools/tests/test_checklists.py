"""docs/ARCHITECTURE.md's checklists, followed step by step in a scratch copy of the repo.

"Add a model" adds ``toy`` on the fastapi runtime; "Add an environment" adds ``qa``, a second
Kubernetes cluster. Then both are rendered, the toy's image is built by the real builder from the
toy's own BUILD file, and resolved with the digest that build wrote. The step titles here must be
the checklist's (the first test), so the document and what is tested cannot drift apart.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

import models
from tools.deploy import Deploy
from tools.k8s.checks import golden
from tools.k8s.render import render
from tools.k8s.render.resolve import resolve
from tools.k8s.schema.catalog import Catalog
from tools.labels import Label
from tools.paths import REPO_ROOT

ADD_A_MODEL = (
    "Write `models/<m>/model.yaml`",
    "Write the model's code",
    "Write `models/<m>/client.py`",
    "Write `models/<m>/BUILD.bazel`",
    "Place it in every environment",
    "Render, build and resolve",
)
ADD_AN_ENVIRONMENT = (
    "Write `platform/environments/<env>.yaml`",
    "Bazel's deploy targets",
    "Render, build and resolve",
)


def checklist(title: str) -> list[str]:
    """The bold step titles of one checklist in docs/ARCHITECTURE.md, in order."""
    text = (REPO_ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split(f"### {title}\n", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\d+\. \*\*(.+?)\*\*", section, flags=re.MULTILINE)


def test_the_checklists_are_the_steps_this_test_follows():
    assert checklist("Add a model") == list(ADD_A_MODEL)
    assert checklist("Add an environment") == list(ADD_AN_ENVIRONMENT)


# --- the scratch repo ---------------------------------------------------------------------------

_SKIP = shutil.ignore_patterns("__pycache__", "tests", "*.pt", "*.onnx", "weights", "*.lock.json.tmp")

TOY_MODEL_YAML = {
    "name": "toy",
    "runtime": "fastapi",
    "version": "3",
    "images": {"cpu": "//models/toy:image"},
    "client": "models.toy.client",
    "env": {"MODEL_HANDLER": "models.toy.handler:Echo", "MODEL_PATH": "/dev/null"},
}
TOY_HANDLER = '''"""A toy handler: answers the size of what it is sent."""

from runtimes.fastapi.model import Model


class Echo(Model):
    def predict(self, model_input):
        return {"bytes": len(model_input)}
'''
TOY_CLIENT = '''"""The toy's client: the contract servectl predict calls."""


def predict_once(url, input, *, raw=False):
    import httpx

    return httpx.post(f"{url}/predict", files={"file": ("x", (input or "hi").encode())}).text
'''
TOY_BUILD = """load("@rules_python//python:defs.bzl", "py_library")
load("//tools:defs.bzl", "model_deploy", "py_image")

py_library(
    name = "handler",
    srcs = ["__init__.py", "handler.py"],
    deps = ["//runtimes/fastapi"],
)

py_image(
    name = "image",
    base = "//third_party/debian:python311",
    env = {"MODEL_HANDLER": "models.toy.handler:Echo", "MODEL_NAME": "toy", "MODEL_PATH": "/dev/null"},
    exposed_ports = ["8000/tcp"],
    main = "//runtimes/fastapi:__main__.py",
    requirements = "//third_party/python:requirements_fastapi.lock",
    deps = [":handler"],
)

model_deploy(
    name = "deploy",
    data = ["model.yaml", "//runtimes/fastapi:runtime.yaml"],
    images = [":image"],
    model = "toy",
)
"""


def scratch_repo(root: Path) -> Path:
    """The data, the runtimes' sources, the locks and the models' data: what the builder and the
    renderer read (code the renderer imports, like runtime hooks, still comes from the checkout)."""
    for top in ("platform", "runtimes", "models", "third_party"):
        shutil.copytree(REPO_ROOT / top, root / top, ignore=_SKIP)
    return root


def add_the_toy_model(root: Path) -> None:
    toy = root / "models" / "toy"
    toy.mkdir()
    # 1. model.yaml
    (toy / "model.yaml").write_text(yaml.safe_dump(TOY_MODEL_YAML, sort_keys=False))
    # 2. the model's code
    (toy / "__init__.py").write_text("")
    (toy / "handler.py").write_text(TOY_HANDLER)
    # 3. the client
    (toy / "client.py").write_text(TOY_CLIENT)
    # 4. BUILD.bazel
    (toy / "BUILD.bazel").write_text(TOY_BUILD)
    # 5. a place in every environment (a free loopback port on local)
    for path in sorted((root / "platform" / "environments").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        entry = dict(data["models"]["yolo"])
        if "hostPorts" in entry:
            entry["hostPorts"] = {"http": 18900}
        data["models"]["toy"] = entry
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    # ... and platform/environments.bzl regenerated: it names the image each environment runs
    from tools.bazel import environments_bzl

    assert environments_bzl.main([], root=root) == 0
    assert '"toy": "//models/toy:image"' in (root / "platform" / "environments.bzl").read_text()


def add_the_qa_environment(root: Path) -> None:
    # 1. one file: staging's placements on another cluster and registry
    data = yaml.safe_load((root / "platform" / "environments" / "staging.yaml").read_text())
    data.update(registry="registry.qa.example.com/ai", cluster={"kind": "kubernetes", "context": "qa"})
    (root / "platform" / "environments" / "qa.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    # 2. Bazel's environment list, regenerated from the directory
    from tools.bazel import environments_bzl

    assert environments_bzl.main([], root=root) == 0
    assert '"qa"' in (root / "platform" / "environments.bzl").read_text()


@pytest.fixture
def scratch(tmp_path) -> Path:
    root = scratch_repo(tmp_path / "repo")
    add_the_toy_model(root)
    add_the_qa_environment(root)
    return root


def test_the_toy_model_and_qa_environment_render_and_are_known(scratch, monkeypatch):
    catalog = Catalog(scratch)
    assert "toy" in catalog.model_names and "qa" in catalog.environment_names
    assert ("toy", "qa") in golden.all_cases(catalog=catalog)
    (deployment,) = [d for d in render("toy", "qa", root=scratch) if d["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "//models/toy:image"  # a label until resolved
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MODEL_HANDLER"] == "models.toy.handler:Echo" and env["MODEL_VERSION"] == "3"
    assert deployment["metadata"]["namespace"] == catalog.environment("qa").namespace
    # The client contract, loaded the way `servectl predict` loads it (from the scratch package).
    from tools.commands.predict import model_client

    monkeypatch.setattr(models, "__path__", [*models.__path__, str(scratch / "models")])
    predict_once = model_client(Deploy.load("toy", "qa", root=scratch))
    assert predict_once.__module__ == "models.toy.client"


@pytest.mark.slow
def test_the_toy_image_builds_and_resolves_with_its_digest(scratch, tmp_path, monkeypatch):
    from tools.oci.builder import build_image
    from tools.oci.cache import seed_downloads

    # A private build dir with the checkout's verified downloads (the pinned .debs), nothing else:
    # the toy's image, layers and digest file are its own.
    build = seed_downloads(tmp_path / "build")
    monkeypatch.setenv("CF_BUILD_DIR", str(build))
    built = build_image(Label("models/toy", "image"), root=scratch)
    assert (build / "images" / "models" / "toy" / "image.digest").read_text() == f"{built.digest}\n"
    for env in ("qa", "local"):
        registry = Catalog(scratch).environment(env).registry
        (deployment,) = [d for d in resolve("toy", env, root=scratch) if d["kind"] == "Deployment"]
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"{registry}/models/toy/image@{built.digest}"
