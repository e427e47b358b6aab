"""The layers Bazel's py_image makes are the CLI builder's: same command, same bytes.

tools/oci/private/layer.bzl runs `python -m tools.oci.layer_main` with the command line its
`layer_command` writes; these tests run those exact command lines (paths filled in as Bazel would)
and compare each layer with the one `python -m tools build` makes, by digest where the inputs are
the same and by per-file (path, mode, uid, gid) lists otherwise.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tools.hashing import file_sha256
from tools.labels import Label
from tools.oci import debian, layers
from tools.oci.builder import PYTHON_ENV, build_image
from tools.oci.tests.helpers import HELLO
from tools.paths import REPO_ROOT

IMAGE = Label(HELLO, "image")


def layer_main(*args: str) -> subprocess.CompletedProcess:
    """What the ImageLayer action runs (the py_binary //tools/oci:layer_main is this module)."""
    return subprocess.run(
        [sys.executable, "-m", "tools.oci.layer_main", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=600,
        env={**os.environ, "PYTHONHASHSEED": "0"},  # the action's env (layer.bzl)
    )


def listing(path: Path) -> list[tuple[str, int, int, int]]:
    with tarfile.open(path) as tar:
        return sorted((m.name, m.mode, m.uid, m.gid) for m in tar.getmembers())


@pytest.fixture(scope="module")
def cli_image(build_dir, repo_copy):
    return build_image(IMAGE, root=repo_copy)


def _cli_layer(image, prefix: str):
    (blob,) = [blob for what, blob in image.layers if what.startswith(prefix)]
    return blob


def test_packages_layer_is_the_clis_byte_for_byte(cli_image, repo_copy, tmp_path):
    out = tmp_path / "image_packages.tar.gz"
    # layer_command, kind = "pip": --out OUT pip --lock LOCK
    result = layer_main("--out", str(out), "pip", "--lock", str(repo_copy / HELLO / "requirements.lock"))
    assert result.returncode == 0, result.stderr
    cli = _cli_layer(cli_image, "pip install")
    assert listing(out) == listing(cli.path)
    assert f"sha256:{file_sha256(out)}" == cli.digest


def test_app_layer_is_the_clis(cli_image, repo_copy, tmp_path):
    # layer_command, kind = "app": a files layer of the deps' main-repo runfiles at /app/<short_path>;
    # here srcs = glob(["app/*.py"]) and main = "app/__main__.py" of the hello package, in a copy
    # with no parent packages (the repo's own images: the next test).
    sources = sorted((repo_copy / HELLO / "app").glob("*.py"))
    out = tmp_path / "image_app.tar.gz"
    args = ["--out", str(out), "files"]
    for path in sources:
        args += ["--file", f"/app/{path.relative_to(repo_copy).as_posix()}={path}"]
    result = layer_main(*args)
    assert result.returncode == 0, result.stderr
    cli = _cli_layer(cli_image, "app:")
    assert listing(out) == listing(cli.path)
    assert f"sha256:{file_sha256(out)}" == cli.digest


def _bazel_app_layers() -> list[tuple[str, str, list[str]]]:
    """(package, image, the app layer's main-repo runfiles) of every py_image in the repo, from the
    real BUILD files evaluated by the graph check (the files `_main_repo_files` gives layer_command)."""
    from tools.bazel.module_file import read_module_file
    from tools.bazel.rule_specs import load_rule_specs
    from tools.bazel.test_data_checks import runfiles
    from tools.bazel.workspace import Workspace

    specs = load_rule_specs()
    module = read_module_file(REPO_ROOT / "MODULE.bazel", specs.extensions)
    workspace = Workspace(REPO_ROOT, specs, module.repos)
    workspace.evaluate()
    found = []
    for package, contents in sorted(workspace.packages.items()):
        for name, target in sorted(contents.targets.items()):
            if (
                target.kind == "image_layer"
                and target.attrs.get("kind") == "app"
                and name == target.attrs["name"]
            ):
                files, _ = runfiles(workspace, package, target.attrs.get("deps") or [])
                found.append((package, name.removesuffix("_app"), sorted(files)))
    return found


BAZEL_APP_LAYERS = _bazel_app_layers()


@pytest.mark.parametrize(
    ("package", "image", "files"), BAZEL_APP_LAYERS, ids=[f"{p}:{i}" for p, i, _ in BAZEL_APP_LAYERS]
)
def test_every_images_app_layer_is_the_clis(build_dir, package, image, files, tmp_path):
    """The layer `python -m tools build` makes of the py_image's srcs, deps and main (with the
    __init__.py of every package above a .py file), and the one layer_command's command line makes
    of what Bazel gives the action: the same (path, mode, uid, gid), the same bytes. A parent
    __init__.py no dep brings (models/__init__.py, runtimes/__init__.py) fails here."""
    from tools.bazel.build_file import read_targets
    from tools.oci.builder import collect_sources

    attrs = read_targets(package)[image].attrs
    labels = [
        *(attrs.get("srcs") or []),
        *(attrs.get("deps") or []),
        *([attrs["main"]] if attrs.get("main") else []),
    ]
    cli = layers.app_layer(collect_sources(labels, package, REPO_ROOT), REPO_ROOT, {})
    out = tmp_path / f"{image}_app.tar.gz"
    args = ["--out", str(out), "files"]
    for rel in files:
        args += ["--file", f"/app/{rel}={REPO_ROOT / rel}"]
    result = layer_main(*args)
    assert result.returncode == 0, result.stderr
    assert listing(out) == listing(cli.path)
    assert f"sha256:{file_sha256(out)}" == cli.digest


def test_the_app_layer_comparison_sees_a_missing_parent_init(build_dir, tmp_path):
    # The comparison above, on a layer missing models/__init__.py: the listings differ.
    (files,) = [files for package, _, files in BAZEL_APP_LAYERS if package == "models/yolo"]
    assert "models/__init__.py" in files
    out = tmp_path / "short.tar.gz"
    args = ["--out", str(out), "files"]
    for rel in files:
        if rel != "models/__init__.py":
            args += ["--file", f"/app/{rel}={REPO_ROOT / rel}"]
    assert layer_main(*args).returncode == 0
    full = layers.app_layer([REPO_ROOT / rel for rel in files], REPO_ROOT, {})
    missing = {entry for entry in listing(full.path) if entry not in listing(out)}
    assert {name for name, *_ in missing} == {"app/models/__init__.py"}


@pytest.mark.parametrize("lock_layer", ["base", "interpreter"])
def test_debian_layers_are_the_clis_byte_for_byte(cli_image, repo_copy, build_dir, lock_layer, tmp_path):
    # layer_command, kind = "debian": --out OUT debian --layer NAME --deb D ... with the .debs of
    # @debian_bookworm//:<layer> in lock order, which debian_packages downloads by the lock's sha256:
    # here the same files, which the CLI build above fetched and checked against the same sha256.
    lock = debian.load_lock(repo_copy / "third_party" / "debian" / "packages.lock.json")
    debs = [build_dir / "cache" / "debs" / f"{pkg['sha256']}.deb" for pkg in lock["layers"][lock_layer]]
    out = tmp_path / f"python311_{lock_layer}.tar.gz"
    args = ["--out", str(out), "debian", "--layer", lock_layer]
    for deb in debs:
        args += ["--deb", str(deb)]
    result = layer_main(*args)
    assert result.returncode == 0, result.stderr
    cli = _cli_layer(cli_image, f"debian {lock_layer}:")
    assert listing(out) == listing(cli.path)
    assert f"sha256:{file_sha256(out)}" == cli.digest


def _bzl_dict(path: str, name: str) -> dict:
    text = (REPO_ROOT / path).read_text(encoding="utf-8")
    match = re.search(rf"^{name} = (\{{.*?^\}})", text, re.MULTILINE | re.DOTALL)
    assert match, f"{path} defines {name}"
    return ast.literal_eval(match[1])


def test_bazel_env_is_the_clis_in_the_same_order():
    # debian_base's oci_image(env = BASE_ENV) and py_image's PYTHON_ENV under Bazel; the CLI's from
    # debian.py and builder.py. The order counts: rules_oci 2.3.2's image.sh keeps the base's Env
    # and appends new variables in the env file's order (the dict's), as the CLI's _merge_env does.
    assert list(_bzl_dict("tools/oci/private/debian_base.bzl", "BASE_ENV").items()) == list(
        debian.BASE_ENV.items()
    )
    assert list(_bzl_dict("tools/oci/private/py_image.bzl", "PYTHON_ENV").items()) == list(PYTHON_ENV.items())


def test_artifacts_layer_with_exclude_is_the_clis(build_dir, tmp_path):
    source = tmp_path / "weights"
    source.mkdir()
    (source / "model.onnx").write_bytes(b"onnx")
    (source / "model.pt").write_bytes(b"torch checkpoint")
    (source / "metadata.json").write_text("{}")
    out = tmp_path / "image_artifacts_0.tar.gz"
    # layer_command, kind = "artifacts"
    result = layer_main(
        "--out",
        str(out),
        "artifacts",
        "--destination",
        "/models/yolo",
        "--source",
        str(source),
        "--exclude",
        "*.pt",
    )
    assert result.returncode == 0, result.stderr
    cli = layers.artifacts_layer("/models/yolo", source, ["*.pt"], {})
    assert listing(out) == listing(cli.path)
    assert out.read_bytes() == cli.path.read_bytes()
    assert "models/yolo/model.pt" not in {name for name, *_ in listing(out)}


def test_labels_file_stamps_the_commit_only_with_a_status_file(tmp_path):
    out = tmp_path / "labels.txt"
    assert (
        layer_main("--out", str(out), "labels", "--label", "org.opencontainers.image.version=1").returncode
        == 0
    )
    assert out.read_text() == "org.opencontainers.image.version=1\n"
    status = tmp_path / "stable-status.txt"
    status.write_text("STABLE_GIT_COMMIT abc123\nSTABLE_GIT_TREE_STATE dirty\n")
    args = ["--out", str(out), "labels", "--label", "a=b", "--stable-status", str(status)]
    assert layer_main(*args).returncode == 0
    assert out.read_text() == "a=b\norg.opencontainers.image.revision=abc123-dirty\n"


def test_bad_input_is_one_error_line(tmp_path):
    result = layer_main("--out", str(tmp_path / "x.tar.gz"), "files", "--file", "/app/x.py")
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    result = layer_main(
        "--out", str(tmp_path / "x.tar.gz"), "artifacts", "--destination", "/m", "--source", "nope"
    )
    assert result.returncode == 2 and "not a directory" in result.stderr
    result = layer_main("--out", str(tmp_path / "x.tar.gz"), "debian", "--layer", "base", "--deb", "no.deb")
    assert result.returncode == 2 and result.stderr == "error: no such file: no.deb\n"
