"""HTTP /predict vs in-process predict for yolo (the served OpenVINO IR), on the same image, in one run.

    .venvs/dev/bin/python bench/bench_yolo_http.py [--rounds 6 --per-round 10 --image PATH]

Starts the real server (``python -m runtimes.fastapi``, uvicorn on loopback) and, in this
process, the same handler on the same weights. Each round runs a block in-process then a block
over HTTP, so both see the same machine load; latency percentiles are over all rounds. Prints
p50/p99 and throughput at concurrency 1 and 4, and the ratios HTTP / in-process
(target: HTTP p50 within 1.10x of in-process at concurrency 1).

``--backends`` also compares the two backends in-process (ONNX on onnxruntime vs the .pt on
ultralytics/torch). bench_yolo_levers.py compares every backend and lever against stock ultralytics.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.yolo.handler import YOLOModelHandler
from runtimes.fastapi.tests.conftest import ultralytics_asset
from runtimes.fastapi.tests.server_process import running_server
from tools.artifacts import build_artifacts


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Runs:
    """Latencies (seconds) and wall time of one way of predicting at one concurrency."""

    def __init__(self, name: str):
        self.name, self.latencies, self.wall = name, [], 0.0

    def run(self, call, count: int, concurrency: int) -> None:
        def timed(_):
            start = time.perf_counter()
            call()
            return time.perf_counter() - start

        start = time.perf_counter()
        if concurrency == 1:
            self.latencies += [timed(i) for i in range(count)]
        else:
            with ThreadPoolExecutor(concurrency) as pool:
                self.latencies += list(pool.map(timed, range(count)))
        self.wall += time.perf_counter() - start

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall

    def line(self) -> str:
        return (
            f"{self.name:<22} n={len(self.latencies):<4} p50 {self.p50 * 1000:7.1f} ms   "
            f"p99 {self.p99 * 1000:7.1f} ms   mean {statistics.fmean(self.latencies) * 1000:7.1f} ms   "
            f"{self.throughput:6.2f} req/s"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=10, help="requests per block (at each concurrency)")
    parser.add_argument("--image", type=Path, help="default: ultralytics' bus.jpg")
    parser.add_argument("--backends", action="store_true", help="also compare ONNX vs .pt in-process")
    parser.add_argument(
        "--inference-threads", type=int, default=1, help="the server's SERVER_INFERENCE_THREADS (default 1)"
    )
    args = parser.parse_args()

    image = args.image.read_bytes() if args.image else ultralytics_asset("bus.jpg")
    weights = build_artifacts("//models/yolo:weights")
    model_path = weights / "model.xml"
    handler = YOLOModelHandler(model_path, name="yolo")
    handler.load()
    settings = {
        "MODEL_NAME": "yolo",
        "MODEL_HANDLER": "models.yolo.handler:YOLOModelHandler",
        "MODEL_PATH": str(model_path),
        "SERVER_LOG_LEVEL": "warning",  # no access log line per request
        "SERVER_INFERENCE_THREADS": str(args.inference_threads),
    }
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, image {len(image)} bytes")
    print(f"server inference threads {args.inference_threads} (in-process c=4 runs 4 threads at once)")
    print(f"model {model_path}")
    with (
        tempfile.TemporaryDirectory() as log_dir,
        running_server(settings, Path(log_dir), wait_for="/ready") as srv,
    ):
        clients = [srv.client() for _ in range(4)]
        files = {"file": ("image.jpg", image, "image/jpeg")}

        def over_http(client_index: int = 0):
            answer = clients[client_index].post("/predict", files=files)
            answer.raise_for_status()

        local = threading.local()
        counter = iter(range(10**9))

        def over_http_pooled():
            # Each worker thread keeps its own keep-alive connection, as a real client pool would.
            if not hasattr(local, "index"):
                local.index = next(counter) % 4
            over_http(local.index)

        def in_process():
            handler(image)

        for _ in range(3):  # warm both paths (connection, first runs)
            in_process()
            over_http()
        results = {}
        for concurrency in (1, 4):
            local_runs, http_runs = (
                Runs(f"in-process c={concurrency}"),
                Runs(f"HTTP /predict c={concurrency}"),
            )
            for _ in range(args.rounds):
                local_runs.run(in_process, args.per_round, concurrency)
                http_runs.run(
                    over_http if concurrency == 1 else over_http_pooled, args.per_round, concurrency
                )
            results[concurrency] = (local_runs, http_runs)
            print(local_runs.line())
            print(http_runs.line())
        for client in clients:
            client.close()
    print()
    for concurrency, (local_runs, http_runs) in results.items():
        throughput = http_runs.throughput / local_runs.throughput
        print(
            f"c={concurrency}: HTTP/in-process  p50 {http_runs.p50 / local_runs.p50:.3f}x   "
            f"p99 {http_runs.p99 / local_runs.p99:.3f}x   throughput {throughput:.3f}x"
        )
    ratio = results[1][1].p50 / results[1][0].p50
    print(
        f"target HTTP p50 <= 1.10x in-process at c=1: {'met' if ratio <= 1.10 else 'NOT met'} ({ratio:.3f}x)"
    )
    if args.backends:
        compare_backends(weights, image, args.rounds, args.per_round)
    return 0


def compare_backends(weights: Path, image: bytes, rounds: int, per_round: int) -> None:
    """ONNX on onnxruntime vs the .pt on ultralytics/torch, in-process, same image and pipeline."""
    onnx_handler = YOLOModelHandler(weights / "model.onnx", name="yolo")
    torch_handler = YOLOModelHandler(weights / "model.pt", name="yolo")
    onnx_handler.load()
    torch_handler.load()
    onnx_runs, torch_runs = Runs("onnxruntime c=1"), Runs("torch (.pt) c=1")
    for _ in range(rounds):
        onnx_runs.run(lambda: onnx_handler(image), per_round, 1)
        torch_runs.run(lambda: torch_handler(image), per_round, 1)
    print()
    print(onnx_runs.line())
    print(torch_runs.line())
    print(f"torch/onnxruntime p50 {torch_runs.p50 / onnx_runs.p50:.3f}x")


if __name__ == "__main__":
    sys.exit(main())
