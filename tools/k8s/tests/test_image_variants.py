"""Image variants: model.yaml declares one image per device; the environment's device picks one.

For every model in every environment: the manifests name exactly the variant of the device the
environment gives the model (a GPU or MIG slice -> ``gpu``, else ``cpu``), resolve pins that
variant's digest, and the pods request a GPU exactly when the image is the GPU one. A device the
model has no image for is a one-line error naming the environment file and field. (What is inside
each image is checked by the model's own tests, e.g. models/gpt2/tests/test_device_variants.py.)
"""

from __future__ import annotations

import hashlib

import pytest

from tools.errors import UserError
from tools.k8s.render.resolve import resolve
from tools.k8s.schema.catalog import Catalog
from tools.k8s.tests.repo_copy import copy_repo_data, read, write

CATALOG = Catalog()
PAIRS = [
    (m, e)
    for m in CATALOG.model_names
    for e in CATALOG.environment_names
    if m in CATALOG.environment(e).models
]


def digest_of(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def deployment(docs: list[dict]) -> dict:
    (found,) = [d for d in docs if d["kind"] == "Deployment"]
    return found


@pytest.mark.parametrize(("model", "env"), PAIRS)
def test_every_model_in_every_environment_gets_the_image_of_its_device(model, env):
    spec, environment = CATALOG.model(model), CATALOG.environment(env)
    device = environment.models[model].device
    variants = {d: str(label) for d, label in spec.images.labels().items()}
    images = map(str, CATALOG.image_labels(model))  # the variants and the runtime's verifier images
    docs = resolve(model, env, {label: digest_of(label) for label in images}, catalog=CATALOG)
    (container,) = deployment(docs)["spec"]["template"]["spec"]["containers"]
    chosen = variants[device]
    package, name = chosen.removeprefix("//").split(":")
    assert container["image"] == f"{environment.registry}/{package}/{name}@{digest_of(chosen)}"
    requests_gpu = any(k.startswith("nvidia.com/") for k in container["resources"]["limits"])
    assert requests_gpu == (device == "gpu")
    for other_device, other in variants.items():
        if other_device != device:
            assert digest_of(other) not in container["image"]


def test_the_committed_environments_cover_both_devices():
    """Without a CPU and a GPU placement of one model the test above could not catch a swap."""
    devices = {(m, CATALOG.environment(e).models[m].device) for m, e in PAIRS}
    assert {("gpt2", "cpu"), ("gpt2", "gpu"), ("resnet50", "cpu"), ("resnet50", "gpu")} <= devices


def test_resolve_needs_only_the_chosen_variants_digest():
    """A CPU environment never builds or needs the GPU image: its digest alone resolves."""
    docs = resolve("gpt2", "local", {"//models/gpt2:image": digest_of("cpu")}, catalog=CATALOG)
    assert deployment(docs)["spec"]["template"]["spec"]["containers"][0]["image"].endswith(digest_of("cpu"))


def test_a_gpu_environment_for_a_model_without_a_gpu_image_names_file_and_field(tmp_path):
    root = copy_repo_data(tmp_path)
    staging = root / "platform/environments/staging.yaml"
    data = read(staging)
    data["models"]["yolo"]["gpu"] = {"kind": "nvidia.com/gpu", "count": 1}
    write(staging, data)
    with pytest.raises(UserError) as error:
        Catalog(root).environment("staging")
    assert error.value.file == str(staging)
    assert error.value.field == "models.yolo.gpu"
    assert "no gpu image" in error.value.message and "images.gpu" in error.value.message


def test_a_cpu_environment_for_a_gpu_only_model_names_file_and_field(tmp_path):
    root = copy_repo_data(tmp_path)
    model_yaml = root / "models/gpt2/model.yaml"
    data = read(model_yaml)
    del data["images"]["cpu"]
    write(model_yaml, data)
    with pytest.raises(UserError) as error:
        Catalog(root).environment("local")
    assert (error.value.file, error.value.field) == (
        str(root / "platform/environments/local.yaml"),
        "models.gpt2.gpu",
    )
    assert "no cpu image" in error.value.message


@pytest.mark.parametrize(
    ("images", "field", "words"),
    [
        ({}, "images", "at least one image variant"),
        ({"cpu": "not a label"}, "images.cpu", ""),
        ({"cpu": "//models/gpt2:image", "tpu": "//models/gpt2:image_tpu"}, "images.tpu", ""),
    ],
)
def test_bad_images_in_model_yaml_name_the_field(tmp_path, images, field, words):
    root = copy_repo_data(tmp_path)
    model_yaml = root / "models/gpt2/model.yaml"
    data = read(model_yaml)
    data["images"] = images
    write(model_yaml, data)
    with pytest.raises(UserError) as error:
        Catalog(root).model("gpt2")
    assert error.value.file == str(model_yaml)
    assert error.value.field == field
    assert words in error.value.message
