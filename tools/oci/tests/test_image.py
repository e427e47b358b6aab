"""The test image built for real from the pinned Debian base, a hash lock and app code: its
structure, that it runs as non-root, reproducibility, and what an app-only change costs."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tools.labels import Label
from tools.oci.builder import build_image
from tools.oci.layout import read_manifest
from tools.oci.push import push_image, read_pushed
from tools.oci.tests.helpers import HELLO, podman_run, unpack

pytestmark = pytest.mark.container  # also run in the pristine root (./dev rehearse)

IMAGE = Label(HELLO, "image")
CHILD = Label(HELLO, "child")
SECRET_NAMES = {"id_rsa", "id_ed25519", ".netrc", ".pypirc", ".env", "credentials", ".git-credentials"}


@pytest.fixture(scope="module")
def built(build_dir, repo_copy):
    return build_image(IMAGE, root=repo_copy)


@pytest.fixture(scope="module")
def rootfs(built, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("rootfs")
    dest.chmod(0o755)  # it becomes "/" for the non-root user in the chroot test
    _, manifest, _ = read_manifest(built.layout_dir)
    unpack(built.layout_dir, manifest, dest)
    return dest


def test_config_runs_as_nonroot_with_entrypoint_ports_env_and_labels(built):
    digest, manifest, config = read_manifest(built.layout_dir)
    assert digest == built.digest
    assert built.layout_dir.with_name("image.digest").read_text() == f"{digest}\n"
    cfg = config["config"]
    assert cfg["User"] == "65532:65532"
    assert cfg["Entrypoint"] == ["python3", "-m", "tools.oci.tests.testdata.hello.app"]
    assert cfg["WorkingDir"] == "/app"
    assert cfg["ExposedPorts"] == {"8000/tcp": {}}
    env = dict(item.split("=", 1) for item in cfg["Env"])
    assert (
        env["GREETING"] == "hello" and env["PYTHONPATH"] == "/app" and env["PYTHONDONTWRITEBYTECODE"] == "1"
    )
    labels = cfg["Labels"]
    assert labels["org.opencontainers.image.source"] == str(IMAGE)
    assert labels["org.opencontainers.image.version"] == "1"
    assert labels["org.opencontainers.image.created"] == "1970-01-01T00:00:00Z" == config["created"]
    assert "org.opencontainers.image.revision" not in labels  # only when stamped
    # base libs, interpreter, third-party, app: ordered by how often they change
    assert [h["created_by"].split(":")[1].split()[0] for h in config["history"]] == [
        "debian",
        "debian",
        "pip",
        "app",
    ]
    assert len(manifest["layers"]) == 4 == len(config["rootfs"]["diff_ids"])


def test_expected_files_are_present(rootfs):
    assert (rootfs / "usr/bin/python3.11").is_file()
    assert (rootfs / "usr/bin/python3").is_symlink()
    assert "nonroot:x:65532:65532:" in (rootfs / "etc/passwd").read_text()
    assert "nonroot:x:65532:" in (rootfs / "etc/group").read_text()
    assert (rootfs / "etc/nsswitch.conf").is_file()
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert (rootfs / "usr/local/lib/python3.11/dist-packages/idna/__init__.py").is_file()
    assert (rootfs / f"app/{HELLO}/app/__main__.py").is_file()
    assert (rootfs / "usr/lib/python3.11/__pycache__").is_dir()  # stdlib precompiled (read-only fs)
    assert not (rootfs / "usr/lib/python3.11/test").exists()
    assert not (rootfs / "usr/share/doc").exists()


def test_no_secrets_caches_or_test_bytecode(rootfs):
    for path in rootfs.rglob("*"):
        rel = path.relative_to(rootfs).as_posix()
        assert path.name not in SECRET_NAMES, rel
        assert not rel.startswith(("root/.cache", "home/nonroot/.cache")), rel
        assert "/.cache/pip" not in rel, rel
        assert path.name != ".key", rel  # the artifacts cache key is not shipped
        if path.name == "__pycache__":
            parts = path.relative_to(rootfs).parts
            assert "tests" not in parts and "test" not in parts, rel
            assert not rel.startswith("app/"), rel
        if path.is_file() and not path.is_symlink() and path.suffix in (".pem", ".key"):
            assert b"PRIVATE KEY" not in path.read_bytes(), rel


def test_runs_as_nonroot_with_its_own_python_and_packages(built, rootfs):
    cfg = read_manifest(built.layout_dir)[2]["config"]
    env = dict(item.split("=", 1) for item in cfg["Env"])
    result = subprocess.run(
        ["chroot", "--userspec=65532:65532", str(rootfs), *cfg["Entrypoint"], "extra"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hello", "xn--bcher-kva.example", "extra"]


def test_child_image_inherits_base_layers_and_config(built, repo_copy):
    child = build_image(CHILD, root=repo_copy)
    _, manifest, config = read_manifest(child.layout_dir)
    _, base_manifest, _ = read_manifest(built.layout_dir)
    assert manifest["layers"] == base_manifest["layers"]
    cfg = config["config"]
    assert cfg["Entrypoint"] == ["python3", "-m", "tools.oci.tests.testdata.hello.app"]
    assert cfg["Cmd"] == ["--child"]
    assert "GREETING=child" in cfg["Env"]
    assert cfg["Labels"]["org.opencontainers.image.version"] == "1"


def test_two_clean_builds_give_the_same_digest(built, build_dir, repo_copy):
    # Drop every cached layer and blob (keep only the downloaded .debs): a from-scratch rebuild.
    shutil.rmtree(build_dir / "cache" / "layers")
    shutil.rmtree(build_dir / "cache" / "blobs")
    again = build_image(IMAGE, root=repo_copy)
    assert again.digest == built.digest


def test_stamping_records_the_commit_and_changes_only_the_config(built, repo_copy):
    stamped = build_image(IMAGE, root=repo_copy, stamp=True)
    _, manifest, config = read_manifest(stamped.layout_dir)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    # tools/workspace_status.sh's tree state, as Bazel's --stamp records it: "-dirty" on local edits.
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    expected = commit + ("-dirty" if dirty else "")
    assert config["config"]["Labels"]["org.opencontainers.image.revision"] == expected
    assert config["created"] != "1970-01-01T00:00:00Z"
    assert [layer["digest"] for layer in manifest["layers"]] == [b.digest for _, b in built.layers]
    build_image(IMAGE, root=repo_copy)  # leave the unstamped image in place for later tests


def test_app_only_change_pushes_only_the_app_layer(built, repo_copy, local_registry, tmp_path):
    first = push_image(IMAGE, local_registry.address)
    assert first.digest == built.digest
    assert read_pushed(IMAGE)["reference"] == first.reference
    main = repo_copy / HELLO / "app" / "__main__.py"
    original = main.read_text()
    try:
        main.write_text(original + "# an app-only change\n")
        changed = build_image(IMAGE, root=repo_copy)
        result = push_image(IMAGE, local_registry.address)
    finally:
        main.write_text(original)
    old_layers = [b.digest for _, b in built.layers]
    new_layers = [b.digest for _, b in changed.layers]
    assert new_layers[:-1] == old_layers[:-1] and new_layers[-1] != old_layers[-1]
    # Sent: the new app layer and the new config; nothing else.
    assert result.blobs_sent == 2, result
    app_size = changed.layers[-1][1].size
    assert result.bytes_sent < app_size + 4096
    assert result.bytes_sent / result.bytes_total < 0.01
    # Pull it back by digest with skopeo and compare what the registry serves.
    pulled = tmp_path / "pulled"
    subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{result.reference}", f"oci:{pulled}:pulled"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    index = json.loads((pulled / "index.json").read_text())
    assert index["manifests"][0]["digest"] == changed.digest
    _, pulled_manifest, _ = read_manifest(pulled)
    assert [layer["digest"] for layer in pulled_manifest["layers"]] == new_layers
    build_image(IMAGE, root=repo_copy)  # back to the original app


@pytest.mark.slow
def test_podman_runs_the_pushed_image_by_digest_locked_down(built, local_registry, podman_storage):
    """The real container path: pull by digest from the registry, run read-only as 65532."""
    result = push_image(IMAGE, local_registry.address)
    run = podman_run(podman_storage, result.reference, "podman-arg")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["hello", "xn--bcher-kva.example", "podman-arg"]


def test_layout_is_read_by_skopeo_and_umoci(built):
    """Standard OCI layout: the field's own tools read it, and see the digest we recorded."""
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci:{built.layout_dir}:latest"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == built.digest
    stat = subprocess.run(
        ["umoci", "stat", "--json", "--image", f"{built.layout_dir}:latest"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    history = json.loads(stat.stdout)["history"]
    assert len([h for h in history if not h.get("empty_layer")]) == len(built.layers)
