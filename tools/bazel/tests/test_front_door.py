"""The runnable pieces of the Bazel front door, run for real without Bazel.

- the deploy wrapper template, rendered exactly as model_deploy's rule does and run against a
  runfiles tree whose CLI is the real `python -m tools` (the export wrapper: test_front_door_export.py);
- the model_artifacts action (tools/bazel/artifacts_main.py) on a real module;
- tools/workspace_status.sh, the stamping script .bazelrc names.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tools.bazel.tests.front_door import cli_launcher, oci_layout, pairs, quote, render, scratch_repo
from tools.paths import REPO_ROOT

TEMPLATE = REPO_ROOT / "tools" / "k8s" / "private" / "deploy.sh.tpl"


def _render_wrapper(
    path: Path,
    *,
    verb: str,
    model: str,
    env: str,
    digests: dict[str, str],
    layouts: dict[str, str] | None = None,
) -> None:
    """The substitutions _deploy_runner_impl makes (tools/k8s/private/model_deploy.bzl)."""
    render(
        TEMPLATE,
        path,
        {
            "%{CLI}%": "_main/tools/servectl",
            "%{DESCRIPTION}%": f"test wrapper ({model} in {env})",
            "%{DIGESTS}%": pairs(digests),
            "%{ENVIRONMENT}%": quote(env),
            "%{LAYOUTS}%": pairs(layouts or {}),
            "%{MODEL}%": quote(model),
            "%{VERB}%": quote(verb),
        },
    )


def _runfiles(tmp_path: Path, digest: str) -> Path:
    """A runfiles tree like Bazel's: the CLI launcher and the image's digest file."""
    runfiles = tmp_path / "deploy.local.resolve.runfiles"
    cli_launcher(runfiles, REPO_ROOT)
    digest_file = runfiles / "_main" / "models" / "yolo" / "image.json.sha256"
    digest_file.parent.mkdir(parents=True)
    digest_file.write_text(digest + "\n")
    return runfiles


def test_deploy_wrapper_runs_the_cli_with_the_image_digest(tmp_path):
    digest = "sha256:" + hashlib.sha256(b"front door test image").hexdigest()
    _runfiles(tmp_path, digest)
    wrapper = tmp_path / "deploy.local.resolve"
    _render_wrapper(
        wrapper,
        verb="resolve",
        model="yolo",
        env="local",
        digests={"//models/yolo:image": "_main/models/yolo/image.json.sha256"},
    )
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    env = {**os.environ, "BUILD_WORKSPACE_DIRECTORY": str(workspace)}
    env.pop("RUNFILES_DIR", None)
    env.pop("CF_BUILD_DIR", None)
    result = subprocess.run([str(wrapper)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    images = [
        container["image"]
        for doc in yaml.safe_load_all(result.stdout)
        if doc and doc.get("kind") == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]
    assert images and all(image.endswith("@" + digest) for image in images), images


def test_deploy_wrapper_passes_extra_arguments_and_reports_cli_errors(tmp_path):
    _runfiles(tmp_path, "sha256:" + hashlib.sha256(b"x").hexdigest())
    wrapper = tmp_path / "deploy.local.resolve"
    _render_wrapper(wrapper, verb="resolve", model="no-such-model", env="local", digests={})
    result = subprocess.run([str(wrapper), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--digest-file" in result.stdout
    result = subprocess.run([str(wrapper)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_deploy_wrapper_without_runfiles_says_so(tmp_path):
    wrapper = tmp_path / "lonely"
    _render_wrapper(wrapper, verb="status", model="yolo", env="local", digests={})
    env = {k: v for k, v in os.environ.items() if k != "RUNFILES_DIR"}
    result = subprocess.run([str(wrapper)], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 2 and "cannot find the runfiles" in result.stderr


def test_artifacts_action_runs_the_module_build(tmp_path):
    package = tmp_path / "demo_artifacts_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "artifacts.py").write_text(
        "def build(out_dir):\n    (out_dir / 'weights.bin').write_bytes(bytes(range(16)))\n"
    )
    out = tmp_path / "bazel-out" / "weights"
    command = [sys.executable, str(REPO_ROOT / "tools" / "bazel" / "artifacts_main.py")]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [*command, "--module", "demo_artifacts_pkg.artifacts", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "weights.bin").read_bytes() == bytes(range(16))

    result = subprocess.run(
        [*command, "--module", "demo_artifacts_pkg.nope", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2 and "cannot import" in result.stderr and "Traceback" not in result.stderr


def test_workspace_status_prints_the_stable_keys():
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "tools" / "workspace_status.sh")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    status = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert status["STABLE_GIT_COMMIT"] == head.stdout.strip()
    assert status["STABLE_GIT_TREE_STATE"] in ("clean", "dirty")
    assert set(status) == {"STABLE_GIT_COMMIT", "STABLE_GIT_TREE_STATE"}


def test_workspace_status_outside_git_says_unknown(tmp_path):
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "tools" / "workspace_status.sh")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)},
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "STABLE_GIT_COMMIT unknown" in result.stdout.splitlines()


def test_bazelrc_flags_are_commented_and_user_overrides_come_last():
    lines = (REPO_ROOT / ".bazelrc").read_text(encoding="utf-8").splitlines()
    commented = False
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            commented = False
        elif stripped.startswith("#"):
            commented = True
        else:
            # A flag line belongs to a block that starts with a comment saying why.
            assert commented, f".bazelrc:{number}: {stripped!r} has no comment above it"
    assert [ln for ln in lines if ln.strip()][-1] == "try-import %workspace%/.bazelrc.user"
    flags: dict[str, list[str]] = {}
    for line in lines:
        if line and not line.startswith("#"):
            command, *rest = line.split()
            flags.setdefault(command, []).extend(rest)
    assert "--incompatible_strict_action_env" in flags["build"]
    assert "--test_output=errors" in flags["test"]
    assert "--remote_upload_local_results" in flags["build:ci"]
    assert "--workspace_status_command=tools/workspace_status.sh" in flags["build"]


def test_bazelversion_is_a_release_version():
    first = (REPO_ROOT / ".bazelversion").read_text(encoding="utf-8").splitlines()[0]
    major, minor, patch = (int(part) for part in first.split("."))
    assert (major, minor, patch) >= (7, 0, 0)


def test_apply_wrapper_pushes_bazels_image_then_runs_the_verb_with_its_digest(tmp_path, monkeypatch):
    """The `.apply` wrapper's two commands, for real: `push --env ENV --layout LABEL=DIR` into a
    real registry, then the verb with `--digest-file`. Run here with verb resolve (apply would
    deploy); model_deploy gives layouts to `.apply` only (test_graph checks that)."""
    from tools.oci import registry
    from tools.testing.ports import free_port

    port = free_port()
    build = tmp_path / "build"
    monkeypatch.setenv("CF_BUILD_DIR", str(build))
    repo = scratch_repo(tmp_path, port)
    runfiles = tmp_path / "deploy.bazeltest.apply.runfiles"
    cli_launcher(runfiles, repo)
    layout = runfiles / "_main" / "models" / "yolo" / "image"
    digest = oci_layout(layout)
    (runfiles / "_main" / "models" / "yolo" / "image.digest").write_text(digest + "\n")
    wrapper = tmp_path / "deploy.bazeltest.apply"
    _render_wrapper(
        wrapper,
        verb="resolve",
        model="yolo",
        env="bazeltest",
        digests={"//models/yolo:image": "_main/models/yolo/image.digest"},
        layouts={"//models/yolo:image": "_main/models/yolo/image"},
    )
    env = {**os.environ, "CF_BUILD_DIR": str(build)}
    env.pop("RUNFILES_DIR", None)
    try:
        result = subprocess.run([str(wrapper)], capture_output=True, text=True, env=env, timeout=180)
        assert result.returncode == 0, result.stderr
        # The push really landed: the registry serves the manifest under the image's repository.
        import httpx

        answer = httpx.get(
            f"http://127.0.0.1:{port}/v2/models/yolo/image/manifests/{digest}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert answer.status_code == 200 and answer.headers["docker-content-digest"] == digest
        images = [
            container["image"]
            for doc in yaml.safe_load_all(result.stdout)
            if doc and doc.get("kind") == "Deployment"
            for container in doc["spec"]["template"]["spec"]["containers"]
        ]
        assert images == [f"127.0.0.1:{port}/models/yolo/image@{digest}"]
    finally:
        registry.stop(state_dir=build / "registry")


def test_environments_bzl_is_generated_from_the_directory(tmp_path):
    from tools.bazel import environments_bzl

    assert environments_bzl.main(["--check"]) == 0, "run python -m tools.bazel.environments_bzl"
    (tmp_path / "platform" / "environments").mkdir(parents=True)
    (tmp_path / "platform" / "environments" / "qa.yaml").write_text("registry: r\n")
    assert environments_bzl.main(["--check"], root=tmp_path) == 1
    assert environments_bzl.main([], root=tmp_path) == 0
    assert '"qa",' in (tmp_path / "platform" / "environments.bzl").read_text()
    assert environments_bzl.main(["--check"], root=tmp_path) == 0
