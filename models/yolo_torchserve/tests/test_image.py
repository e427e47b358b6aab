"""The built image's own file system runs: Debian's Java 17, TorchServe, the .mar, no torch.

The image (``python -m tools build //models/yolo_torchserve:image``) is unpacked with umoci and its
entrypoint and cmd run as its config says, the way a kubelet would: uid 65532, read-only root, a
fresh tmpfs on /tmp, only the image's environment (``env -i``), inside a private mount namespace
(needs root). Loopback ports are appended to its cmd. The podman run on `local` holds the shared
lock and is covered by ``./dev apply yolo-torchserve --env local``.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from models.yolo_torchserve.tests.served import loopback_api_args, predict_when_up
from tools.labels import Label
from tools.oci.builder import build_image, read_built
from tools.oci.layout import read_manifest

IMAGE = "//models/yolo_torchserve:image"

pytestmark = pytest.mark.skipif(
    shutil.which("umoci") is None or shutil.which("unshare") is None or shutil.which("chroot") is None,
    reason="needs umoci, unshare and chroot (./dev setup installs umoci)",
)


@pytest.fixture(scope="module")
def image_root(tmp_path_factory) -> tuple[Path, dict]:
    import os

    if os.geteuid() != 0:
        pytest.skip("a mount namespace and chroot need root")
    try:
        built = read_built(Label.parse(IMAGE))
    except Exception:  # not built yet in this build dir
        built = build_image(IMAGE)
    root = tmp_path_factory.mktemp("image") / "rootfs"
    subprocess.run(
        ["umoci", "raw", "unpack", "--rootless", "--image", f"{built.layout_dir}:latest", str(root)],
        check=True,
        capture_output=True,
    )
    _, _, config = read_manifest(built.layout_dir)
    return root, config["config"]


def run_image(root: Path, config: dict, extra_args: list[str], log: Path) -> subprocess.Popen:
    steps = (
        'R="$0"; mkdir -p "$R/proc" "$R/dev" && mount --bind "$R" "$R" && mount --rbind /dev "$R/dev" && '
        'mount -t proc proc "$R/proc" && mount -o remount,bind,ro "$R" && '
        'mount -t tmpfs -o mode=1777 tmpfs "$R/tmp" && shift && exec "$@"'
    )
    command = [
        "env",
        "-i",
        *config["Env"],
        "chroot",
        f"--userspec={config['User']}",
        str(root),
        *config["Entrypoint"],
        *config["Cmd"],
        *extra_args,
    ]
    with log.open("wb") as out:
        return subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", steps, str(root), "_", *command],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_the_image_serves_bus_jpg_as_nonroot_on_a_read_only_root_and_stops_cleanly(
    image_root, bus_jpg, tmp_path
):
    root, config = image_root
    assert config["User"] == "65532:65532"
    assert not list(root.glob("usr/local/lib/python3.11/dist-packages/torch/")), "the image has no torch"
    ports, args = loopback_api_args()
    log = tmp_path / "container.log"
    process = run_image(root, config, args, log)
    try:
        answer = predict_when_up(ports["inference"], bus_jpg, lambda: process.poll() is None, 180)
        assert answer is not None and answer.status_code == 200, log.read_text()[-3000:]
        assert len(answer.json()["detections"]) >= 4
        metrics = httpx.get(f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=10).text
        assert 'ts_inference_requests_total{model_name="yolo"' in metrics
        process.send_signal(signal.SIGTERM)
        assert process.wait(90) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert "drain: idle" in text and "TorchServe stopped" in text
