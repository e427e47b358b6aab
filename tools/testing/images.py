"""Helpers for tests of built images: unpack a layout, run it under podman as the platform does,
use the checkout's build dir. Shared by tools/oci's tests and each model's test_image.py."""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

# Extraction filters arrived in Python 3.11.4; Debian 12's python3.11 (3.11.2, what setup installs)
# has none and always extracts fully trusted, which is what our own images need (keeps /tmp 1777).
FULLY_TRUSTED = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}


def unpack(layout_dir: Path, manifest: dict, dest: Path) -> None:
    """Applies the image's layers in order (no whiteouts are ever produced by our builder)."""
    for layer in manifest["layers"]:
        blob = layout_dir / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")
        with tarfile.open(blob, "r:gz") as tar:
            tar.extractall(dest, **FULLY_TRUSTED)


def layer_files(
    layout_dir: Path, manifest: dict, read: tuple[str, ...] = ()
) -> tuple[set[str], dict[str, bytes]]:
    """What the image's layers hold, streamed without unpacking (a CUDA image is GBs): every path
    (``usr/local/...``, no leading slash) and the bytes of the regular files matching a pattern of
    ``read`` (fnmatch), the last layer's copy winning."""
    paths: set[str] = set()
    contents: dict[str, bytes] = {}
    for layer in manifest["layers"]:
        blob = layout_dir / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")
        with tarfile.open(blob, "r|gz") as tar:
            for member in tar:
                name = member.name.removeprefix("./").lstrip("/")
                paths.add(name)
                if member.isfile() and any(fnmatch.fnmatch(name, pattern) for pattern in read):
                    contents[name] = tar.extractfile(member).read()
    return paths, contents


def podman_run(
    storage: Path, reference: str, *args: str, options: tuple = (), timeout: float = 120, detach: bool = False
):
    """``podman run`` of an image from the local registry with the platform's security defaults
    (uid 65532, read-only root, no capabilities, no new privileges), on a private podman storage
    so tests never touch the machine's images. Returns the CompletedProcess (or Popen if detach)."""
    conf = storage / "containers.conf"
    if not conf.exists():
        storage.mkdir(parents=True, exist_ok=True)
        # runc, not crun (crun fails on this kernel's hybrid cgroups); host ulimits are lower than
        # podman's defaults (see docs: offline-recipes.md, OCI images).
        conf.write_text(
            '[engine]\nruntime = "runc"\nevents_logger = "file"\n'
            '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
        )
    # podman refuses a runroot path longer than 50 characters: keep a short link to it.
    run_root = Path(tempfile.gettempdir()) / f"podrun-{abs(hash(str(storage))) % 10**8}"
    (storage / "run").mkdir(parents=True, exist_ok=True)
    if not run_root.exists():
        run_root.symlink_to(storage / "run")
    command = [
        "podman", "--root", str(storage / "root"), "--runroot", str(run_root),
        "run", "--rm", "--tls-verify=false", "--network", "host", "--read-only", "--user", "65532:65532",
        "--cap-drop=ALL", "--security-opt", "no-new-privileges", *options, reference, *args,
    ]  # fmt: skip
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    if detach:
        name = f"servectl-test-{os.getpid()}-{len(list(storage.glob('*')))}"
        command[command.index("run") + 1 : command.index("run") + 1] = ["--name", name]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        process.stop = lambda: _podman_stop(process, command[: command.index("run")], name, env)
        return process
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def _podman_stop(process, podman: list[str], name: str, env: dict) -> str:
    """Stops a detached container (SIGTERM, then kill after 20 s); returns its output. Idempotent."""
    if getattr(process, "output", None) is None:
        process.terminate()
        try:
            process.output = process.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            subprocess.run([*podman, "kill", name], env=env, capture_output=True, timeout=60)
            process.output = process.communicate(timeout=60)[0]
    return process.output


def podman_cleanup(storage: Path) -> None:
    """Removes a private podman storage: its overlay driver keeps ``root/overlay`` mounted on
    itself, which would make the directory impossible to delete."""
    for mount_point in (storage / "root" / "overlay", storage / "root" / "overlay-containers"):
        if os.path.ismount(mount_point):
            subprocess.run(["umount", "--lazy", str(mount_point)], check=False)
    for link in Path(tempfile.gettempdir()).glob("podrun-*"):
        if link.is_symlink() and link.resolve() == (storage / "run").resolve():
            link.unlink()
    shutil.rmtree(storage, ignore_errors=True)


@contextlib.contextmanager
def checkout_build_dir():
    """CF_BUILD_DIR pointed at the checkout's own .build while in the block, so the model image
    tests share the pip and artifact layers development and CI's earlier steps already built."""
    old = os.environ.get("CF_BUILD_DIR")
    os.environ["CF_BUILD_DIR"] = str(Path(__file__).resolve().parents[2] / ".build")
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("CF_BUILD_DIR", None)
        else:
            os.environ["CF_BUILD_DIR"] = old


@contextlib.contextmanager
def private_podman_storage(directory: Path):
    """A private podman storage for one test under ``directory``, unmounted and removed after."""
    try:
        yield directory
    finally:
        podman_cleanup(directory)
