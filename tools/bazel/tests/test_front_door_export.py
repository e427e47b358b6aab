"""`bazel run //platform:export.<env>` without Bazel: the wrapper environment_exports makes
(tools/k8s/private/environment_export.bzl, export.sh.tpl), rendered as `_export_runner_impl` does
from what platform/environments.bzl says the environment runs, and run against a runfiles tree
whose CLI is the real `python -m tools`: every image pushed to a real docker-registry as Bazel's
OCI layout, then `servectl export` with those digests; the directory it writes is built with the
real kustomize, and the same run commits to a real (bare) git repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import yaml

from tools.bazel import environments_bzl
from tools.bazel.tests.front_door import cli_launcher, oci_layout, pairs, quote, render, scratch_repo
from tools.paths import REPO_ROOT
from tools.testing.kustomize import kustomize

TEMPLATE = REPO_ROOT / "tools" / "k8s" / "private" / "export.sh.tpl"


def _runfiles_path(label: str) -> str:
    """runfiles_path of a main-repo target's one file: //models/yolo:image -> _main/models/yolo/image."""
    package, name = label[2:].split(":")
    return f"_main/{package}/{name}"


def _export_wrapper(tmp_path: Path, repo: Path, env: str) -> tuple[Path, dict[str, str]]:
    """The wrapper and runfiles of //platform:export.<env>, as environment_exports declares them: one
    layout and one `.digest` per image the environment runs (real OCI layouts, distinct content);
    returns the wrapper and image label -> digest."""
    models = set(environments_bzl.environment_images(repo)[env].values())
    assert models, f"{env} runs no model: nothing to push"
    labels = sorted(models | set(environments_bzl.environment_verifier_images(repo)[env]))
    runfiles = tmp_path / f"export.{env}.runfiles"
    cli_launcher(runfiles, repo, cd=False)
    digests = {}
    for label in labels:
        layout = runfiles / _runfiles_path(label)
        digests[label] = oci_layout(layout, f"{label} as Bazel built it\n")
        (runfiles / _runfiles_path(label + ".digest")).write_text(digests[label] + "\n")
    wrapper = tmp_path / f"export.{env}"
    render(
        TEMPLATE,
        wrapper,
        {
            "%{CLI}%": "_main/tools/servectl",
            "%{DIGESTS}%": pairs({label: _runfiles_path(label + ".digest") for label in labels}),
            "%{ENVIRONMENT}%": quote(env),
            "%{LAYOUTS}%": pairs({label: _runfiles_path(label) for label in labels}),
        },
    )
    return wrapper, digests


def _images(objects: list[dict]) -> set[str]:
    return {
        container["image"]
        for obj in objects
        if obj and obj.get("kind") == "Deployment"
        for container in obj["spec"]["template"]["spec"]["containers"]
    }


def test_export_wrapper_pushes_every_image_then_exports_with_bazels_digests(tmp_path):
    from tools.oci import registry
    from tools.testing.ports import free_port

    port = free_port()
    build = tmp_path / "build"
    repo = scratch_repo(tmp_path, port)
    models = sorted(yaml.safe_load((repo / "platform/environments/bazeltest.yaml").read_text())["models"])
    wrapper, digests = _export_wrapper(tmp_path, repo, "bazeltest")
    # `bazel run` starts the wrapper in its runfiles tree and says where the user was.
    user_dir = tmp_path / "checkout"
    user_dir.mkdir()
    env = {**os.environ, "CF_BUILD_DIR": str(build), "BUILD_WORKING_DIRECTORY": str(user_dir)}
    env.pop("RUNFILES_DIR", None)
    run = dict(capture_output=True, text=True, env=env, timeout=300, cwd=f"{wrapper}.runfiles/_main")
    try:
        result = subprocess.run([str(wrapper), "gitops"], **run)
        assert result.returncode == 0, result.stderr

        # Every image the environment runs is in the registry, under its label's repository.
        for label, digest in digests.items():
            repository = label[2:].replace(":", "/")
            answer = httpx.get(
                f"http://127.0.0.1:{port}/v2/{repository}/manifests/{digest}",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            )
            assert answer.status_code == 200 and answer.headers["docker-content-digest"] == digest, label
        # DIR is the user's directory, not the runfiles tree; kustomize builds what was written.
        written = user_dir / "gitops" / "bazeltest"
        assert sorted(p.name for p in written.iterdir()) == sorted(
            ["kustomization.yaml", "platform.yaml", *(f"{m}.yaml" for m in models)]
        )
        objects = kustomize(written)
        registry_images = {
            f"127.0.0.1:{port}/{label[2:].replace(':', '/')}@{digest}" for label, digest in digests.items()
        }
        assert _images(objects) == registry_images

        # The same target with --commit-to: one commit of the same bytes in a real git repository.
        remote = tmp_path / "gitops.git"
        subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
        author = {"GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.invalid"}
        author |= {"GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "ci@example.invalid"}
        run["env"] = {**env, **author}
        result = subprocess.run([str(wrapper), "--commit-to", str(remote), "--branch", "deploy"], **run)
        assert result.returncode == 0, result.stderr
        assert "committed" in result.stdout
        clone = tmp_path / "clone"
        subprocess.run(["git", "clone", "--quiet", "--branch", "deploy", str(remote), str(clone)], check=True)
        for path in written.iterdir():
            assert (clone / "bazeltest" / path.name).read_bytes() == path.read_bytes(), path.name
    finally:
        registry.stop(state_dir=build / "registry")


def test_export_wrapper_reports_cli_errors_in_one_line(tmp_path):
    runfiles = tmp_path / "export.local.runfiles"
    cli_launcher(runfiles, REPO_ROOT, cd=False)
    wrapper = tmp_path / "export.local"
    substitutions = {"%{CLI}%": "_main/tools/servectl", "%{DIGESTS}%": "", "%{LAYOUTS}%": ""}
    render(TEMPLATE, wrapper, {**substitutions, "%{ENVIRONMENT}%": quote("local")})
    env = {k: v for k, v in os.environ.items() if k != "RUNFILES_DIR"}
    result = subprocess.run([str(wrapper)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == "error: give a DIRECTORY or --commit-to REPO (one of them)\n"
    result = subprocess.run([str(wrapper), "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0 and "--commit-to" in result.stdout


def test_environment_images_are_each_environments_variant(tmp_path):
    """ENVIRONMENT_IMAGES is the CLI's choice (a GPU in the environment picks `gpu`), and a variant
    the model lacks is one line naming the file, not a generated file."""
    (tmp_path / "platform" / "environments").mkdir(parents=True)
    (tmp_path / "models" / "demo").mkdir(parents=True)
    model = {"name": "demo", "images": {"cpu": "//models/demo:image"}}
    (tmp_path / "models/demo/model.yaml").write_text(yaml.safe_dump(model))
    placement = {"replicas": 1, "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}
    placement["resources"]["limits"] = placement["resources"]["requests"]
    gpu = {**placement, "gpu": {"kind": "nvidia.com/gpu"}}
    (tmp_path / "platform/environments/cpu.yaml").write_text(yaml.safe_dump({"models": {"demo": placement}}))
    (tmp_path / "platform/environments/gpu.yaml").write_text(yaml.safe_dump({"models": {"demo": gpu}}))
    assert environments_bzl.main([], root=tmp_path) == 2
    assert not (tmp_path / environments_bzl.BZL).exists()

    model["images"]["gpu"] = "//models/demo:image_gpu"
    (tmp_path / "models/demo/model.yaml").write_text(yaml.safe_dump(model))
    assert environments_bzl.main([], root=tmp_path) == 0
    assert environments_bzl.environment_images(tmp_path) == {
        "cpu": {"demo": "//models/demo:image"},
        "gpu": {"demo": "//models/demo:image_gpu"},
    }
    # A model.yaml change alone makes the generated file stale.
    del model["images"]["cpu"]
    model["images"]["gpu"] = "//models/demo:image_cuda"
    (tmp_path / "models/demo/model.yaml").write_text(yaml.safe_dump(model))
    assert environments_bzl.main(["--check"], root=tmp_path) == 2
    (tmp_path / "platform/environments/cpu.yaml").unlink()
    assert environments_bzl.main(["--check"], root=tmp_path) == 1


def test_environments_that_verify_model_signatures_export_the_verifier_image_too():
    """resnet50's runtime checks signatures in the fastapi runtime image (runtimes/tfserving/
    runtime.yaml modelSignature.staged): the environments that verify push and pin it, local does not."""
    verifier = ["//runtimes/fastapi:image"]
    verifiers = environments_bzl.environment_verifier_images(REPO_ROOT)
    assert verifiers == {"local": [], "prod": verifier, "staging": verifier}
    generated = (REPO_ROOT / environments_bzl.BZL).read_text()
    assert 'ENVIRONMENT_VERIFIER_IMAGES = {\n    "local": [],' in generated
