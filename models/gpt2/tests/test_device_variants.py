"""gpt2's image variants carry what their device needs, read from the images' layers rather than
from their names; every environment gets the variant its device needs and a config.pbtxt of the same
kind. A KIND_GPU config on CPU-only torch fails on the first request, and a KIND_CPU config on the
CUDA image makes CPU nodes pull GBs of CUDA libraries for nothing."""

from __future__ import annotations

import re

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tools.k8s.render.inputs import load_inputs
from tools.k8s.render.manifests import render_inputs
from tools.k8s.schema.catalog import Catalog
from tools.labels import Label
from tools.oci.builder import build_image
from tools.oci.layout import read_manifest
from tools.testing.images import checkout_build_dir, layer_files

SITE = "usr/local/lib/python3.11/dist-packages"
CATALOG = Catalog()
VARIANTS = CATALOG.model("gpt2").images.labels()
ENVIRONMENTS = [e for e in CATALOG.environment_names if "gpt2" in CATALOG.environment(e).models]
# The CUDA runtime, cuBLAS and cuDNN, as PyPI's nvidia-* wheels lay them out (nvidia/<pkg>/lib/).
CUDA_LIBRARIES = (r"libcudart\.so\.\d+", r"libcublas\.so\.\d+", r"libcudnn\.so\.\d+")


@pytest.fixture(scope="module")
def repo_build_dir():
    """The checkout's own .build: the images are cached there (the GPU one is GBs)."""
    with checkout_build_dir():
        yield


def device_facts(label: Label) -> dict:
    """What the built image's layers say about its device: torch's own version record
    (torch/version.py: ``__version__``, ``cuda``) and which CUDA libraries are present."""
    built = build_image(label)
    paths, files = layer_files(
        built.layout_dir, read_manifest(built.layout_dir)[1], (f"{SITE}/torch/version.py",)
    )
    version_py = files[f"{SITE}/torch/version.py"].decode()
    libraries = {
        pattern for pattern in CUDA_LIBRARIES for path in paths if re.search(rf"/nvidia/.*/{pattern}$", path)
    }
    return {
        "torch": re.search(r"^__version__ = '([^']+)'", version_py, re.MULTILINE)[1],
        "cuda": re.search(r"^cuda: Optional\[str\] = (.+)$", version_py, re.MULTILINE)[1],
        "cuda_libraries": libraries,
    }


_FACTS: dict[str, dict] = {}


def facts(label: Label) -> dict:
    """``device_facts``, once per image per session."""
    if str(label) not in _FACTS:
        _FACTS[str(label)] = device_facts(label)
    return _FACTS[str(label)]


def assert_runs_on(device: str, found: dict) -> None:
    if device == "cpu":
        assert found["torch"].endswith("+cpu") and found["cuda"] == "None", found
        assert found["cuda_libraries"] == set(), f"a CPU image carries CUDA libraries: {found}"
    else:
        assert not found["torch"].endswith("+cpu") and found["cuda"] != "None", found
        assert found["cuda_libraries"] == set(CUDA_LIBRARIES), found


def test_the_cpu_image_has_cpu_torch_and_no_cuda_library(repo_build_dir):
    assert_runs_on("cpu", facts(VARIANTS["cpu"]))


@pytest.mark.large_image  # the first build installs ~4.5 GB of CUDA torch and nvidia-* wheels
def test_the_gpu_image_has_cuda_torch_and_its_libraries(repo_build_dir):
    assert_runs_on("gpu", facts(VARIANTS["gpu"]))


def test_the_checks_tell_the_two_images_apart():
    """What makes the two tests above able to fail: each device's facts fail the other's check."""
    cpu = {"torch": "2.13.0+cpu", "cuda": "None", "cuda_libraries": set()}
    gpu = {"torch": "2.14.1+cu130", "cuda": "'13.0'", "cuda_libraries": set(CUDA_LIBRARIES)}
    assert_runs_on("cpu", cpu)
    assert_runs_on("gpu", gpu)
    with pytest.raises(AssertionError):
        assert_runs_on("gpu", cpu)
    with pytest.raises(AssertionError):
        assert_runs_on("cpu", gpu)


def rendered(env: str) -> tuple[str, str, dict]:
    """The Deployment's image label, the ConfigMap's config.pbtxt instance kind and the container's
    limits, as the manifests for ``env`` say."""
    docs = render_inputs(load_inputs("gpt2", env, catalog=CATALOG))
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (config_map,) = [d for d in docs if d["kind"] == "ConfigMap" and "config.pbtxt" in d["data"]]
    config = model_config_pb2.ModelConfig()
    text_format.Parse(config_map["data"]["config.pbtxt"], config)
    (group,) = config.instance_group
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    kind = model_config_pb2.ModelInstanceGroup.Kind.Name(group.kind)
    return container["image"], kind, container["resources"]["limits"]


def _env_case(env: str, build_gpu: bool):
    device = CATALOG.environment(env).models["gpt2"].device
    marks = [pytest.mark.large_image] if build_gpu and device == "gpu" else []
    return pytest.param(env, device, id=env, marks=marks)


@pytest.mark.parametrize(("env", "device"), [_env_case(e, build_gpu=False) for e in ENVIRONMENTS])
def test_each_environment_names_the_variant_of_its_device_and_a_config_of_the_same_kind(env, device):
    image, kind, limits = rendered(env)
    gpu_limits = [name for name in limits if name.startswith("nvidia.com/")]
    assert image == str(VARIANTS[device])
    assert kind == ("KIND_GPU" if device == "gpu" else "KIND_CPU")
    assert bool(gpu_limits) == (device == "gpu"), limits


@pytest.mark.parametrize(("env", "device"), [_env_case(e, build_gpu=True) for e in ENVIRONMENTS])
def test_the_image_each_environment_names_runs_on_its_device(env, device, repo_build_dir):
    image, _, _ = rendered(env)
    assert_runs_on(device, facts(Label.parse(image)))
