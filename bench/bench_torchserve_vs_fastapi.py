"""yolo on TorchServe vs yolo on the fastapi runtime: same weights, same handler code, in one run.

    .venvs/dev/bin/python bench/bench_torchserve_vs_fastapi.py [--rounds 6 --per-round 10 --image PATH]

Starts both real servers on loopback: TorchServe 0.12 through runtimes/torchserve's launcher with
yolo.mar (one worker), and ``python -m runtimes.fastapi`` with the same model.onnx (one inference
thread). Each round runs a block against one then the other, so both see the same machine load.
Prints p50/p99 and throughput at concurrency 1 and 4, start-to-ready time, the compressed size of
both images (built with ``python -m tools build`` if missing), and the ratios TorchServe / fastapi.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_yolo_http import Runs

from runtimes.fastapi.tests.conftest import ultralytics_asset
from runtimes.fastapi.tests.server_process import running_server
from runtimes.torchserve.local import TorchServeProcess
from tools.artifacts import build_artifacts
from tools.errors import UserError
from tools.labels import Label
from tools.oci.builder import build_image, read_built

IMAGES = {"fastapi": "//models/yolo:image", "torchserve": "//models/yolo_torchserve:image"}


def image_bytes(label: str) -> int:
    """Sum of the image's compressed layer sizes (what a registry stores and a node pulls)."""
    try:
        built = read_built(Label.parse(label))
    except UserError:
        built = build_image(label)
    return sum(blob.size for _, blob in built.layers)


def pooled(post):
    """Each worker thread keeps its own keep-alive client, as a real client pool would."""
    local = threading.local()

    def call():
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=60)
        post(local.client)

    return call


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=10, help="requests per block (at each concurrency)")
    parser.add_argument("--image", type=Path, help="default: ultralytics' bus.jpg")
    parser.add_argument("--skip-image-size", action="store_true", help="do not build or size the images")
    args = parser.parse_args()

    image = args.image.read_bytes() if args.image else ultralytics_asset("bus.jpg")
    weights = build_artifacts("//models/yolo:weights")
    archive = build_artifacts("//models/yolo_torchserve:archive")
    settings = {
        "MODEL_NAME": "yolo",
        "MODEL_HANDLER": "models.yolo.handler:YOLOModelHandler",
        "MODEL_PATH": str(weights / "model.onnx"),
        "SERVER_LOG_LEVEL": "warning",
        "SERVER_INFERENCE_THREADS": "1",
    }
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, image {len(image)} bytes")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        torchserve = TorchServeProcess(archive, ["yolo=yolo.mar"], Path(tmp) / "ts").start().wait_ready()
        ready = {"torchserve": time.perf_counter() - started}
        try:
            started = time.perf_counter()
            with running_server(settings, Path(tmp), wait_for="/ready") as fastapi_server:
                ready["fastapi"] = time.perf_counter() - started
                ts_url = f"{torchserve.url('inference')}/predictions/yolo"
                fa_url = f"{fastapi_server.base_url}/predict"

                def ts_post(client):
                    client.post(
                        ts_url, content=image, headers={"Content-Type": "image/jpeg"}
                    ).raise_for_status()

                def fa_post(client):
                    client.post(fa_url, files={"file": ("image.jpg", image, "image/jpeg")}).raise_for_status()

                calls = {"torchserve": pooled(ts_post), "fastapi": pooled(fa_post)}
                for _ in range(3):  # warm both (connections, first runs)
                    for call in calls.values():
                        call()
                results = {}
                for concurrency in (1, 4):
                    runs = {name: Runs(f"{name} c={concurrency}") for name in calls}
                    for _ in range(args.rounds):
                        for name, call in calls.items():
                            runs[name].run(call, args.per_round, concurrency)
                    results[concurrency] = runs
                    for run in runs.values():
                        print(run.line())
        finally:
            torchserve.stop()
    print()
    for concurrency, runs in results.items():
        ts, fa = runs["torchserve"], runs["fastapi"]
        print(
            f"c={concurrency}: torchserve/fastapi  p50 {ts.p50 / fa.p50:.3f}x   p99 {ts.p99 / fa.p99:.3f}x   "
            f"throughput {ts.throughput / fa.throughput:.3f}x"
        )
    print(
        f"start to ready: torchserve {ready['torchserve']:.1f} s, fastapi {ready['fastapi']:.1f} s "
        f"({ready['torchserve'] / ready['fastapi']:.2f}x)"
    )
    if not args.skip_image_size:
        sizes = {name: image_bytes(label) for name, label in IMAGES.items()}
        for name, size in sizes.items():
            print(f"image {name:<10} {IMAGES[name]:<32} {size / 2**20:7.1f} MiB compressed")
        print(f"image size torchserve/fastapi {sizes['torchserve'] / sizes['fastapi']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
