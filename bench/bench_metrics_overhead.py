"""What metrics cost yolo's server: request latency with request metrics on vs off, the exact
per-request recording cost, and the /metrics scrape time, in one run.

    .venvs/dev/bin/python bench/bench_metrics_overhead.py [--rounds 8 --per-round 10]

Two real servers (``python -m runtimes.fastapi``, uvicorn on loopback) on the same weights, one with
``SERVER_REQUEST_METRICS=false``; each round sends a block to one then the other, so both see the
same machine load. On 2 shared cores the end-to-end difference is within noise, so the bench also
times, in this process, exactly what one request records (the request counter and histogram, the
in-flight gauge, the three pipeline-stage and the queue histograms) and divides it by the p50.
Target: metrics under 1 % of request latency. The scrape is timed after the traffic, when every
route, status and bucket series exists.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_yolo_http import Runs, percentile
from runtimes.fastapi import metrics
from runtimes.fastapi.tests.conftest import ultralytics_asset
from runtimes.fastapi.tests.server_process import running_server
from tools.artifacts import build_artifacts


def recording_cost(samples: int = 20000) -> float:
    """Seconds one request spends recording its metrics (the calls the middleware and loader make)."""
    labels = ("/predict", "POST", "200")
    start = time.perf_counter()
    for _ in range(samples):
        metrics.IN_FLIGHT.inc()
        metrics.IN_FLIGHT.dec()
        metrics.REQUESTS.labels(*labels).inc()
        metrics.REQUEST_SECONDS.labels(*labels).observe(0.06)
        metrics.INFERENCE_QUEUE_SECONDS.labels("yolo").observe(0.0001)
        for stage in ("preprocess", "predict", "postprocess"):
            metrics.INFERENCE_SECONDS.labels("yolo", stage).observe(0.02)
    return (time.perf_counter() - start) / samples


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()

    image = ultralytics_asset("bus.jpg")
    model_path = build_artifacts("//models/yolo:weights") / "model.onnx"
    base = {
        "MODEL_NAME": "yolo",
        "MODEL_HANDLER": "models.yolo.handler:YOLOModelHandler",
        "MODEL_PATH": str(model_path),
        "SERVER_LOG_LEVEL": "warning",
    }
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, image {len(image)} bytes")
    files = {"file": ("bus.jpg", image, "image/jpeg")}
    with ExitStack() as stack:
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        on = stack.enter_context(running_server(base, log_dir, wait_for="/ready"))
        off = stack.enter_context(
            running_server({**base, "SERVER_REQUEST_METRICS": "false"}, log_dir, wait_for="/ready")
        )
        on_client, off_client = stack.enter_context(on.client()), stack.enter_context(off.client())
        runs = {"metrics on": Runs("metrics on  c=1"), "metrics off": Runs("metrics off c=1")}

        def call(client):
            return lambda: client.post("/predict", files=files).raise_for_status()

        for client in (on_client, off_client):  # warm up
            for _ in range(3):
                call(client)()
        for _ in range(args.rounds):
            runs["metrics on"].run(call(on_client), args.per_round, 1)
            runs["metrics off"].run(call(off_client), args.per_round, 1)
        assert "model_server_requests_total" in on_client.get("/metrics").text
        assert 'route="/predict"' not in off_client.get("/metrics").text, "metrics off still counts requests"

        scrape_times, size = [], 0
        for _ in range(args.scrapes):
            start = time.perf_counter()
            body = on_client.get("/metrics").content
            scrape_times.append(time.perf_counter() - start)
            size = len(body)
    for run in runs.values():
        print(run.line())
    on_p50, off_p50 = runs["metrics on"].p50, runs["metrics off"].p50
    cost = recording_cost()
    print()
    print(f"request p50 metrics on / off: {on_p50 / off_p50:.3f}x ({(on_p50 - off_p50) * 1000:+.2f} ms)")
    print(f"recording one request's metrics: {cost * 1e6:.1f} us = {cost / off_p50:.4%} of the p50")
    print(
        f"/metrics scrape: p50 {percentile(scrape_times, 50) * 1000:.2f} ms, "
        f"p99 {percentile(scrape_times, 99) * 1000:.2f} ms, {size} bytes"
    )
    print(f"target metrics < 1 % of request latency: {'met' if cost / off_p50 < 0.01 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
