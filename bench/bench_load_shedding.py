"""Overload with and without the fastapi runtime's admission bound, in one run (issue 17).

    .venvs/dev/bin/python bench/bench_load_shedding.py [--seconds 10] [--toy]

Starts two real servers (``python -m runtimes.fastapi``, uvicorn on loopback) serving yolo on its
real weights (``--toy``: the runtime's toy handler holding its thread 50 ms on a tiny image): one
with the default bound (SERVER_MAX_QUEUED unset: 2 waiting per inference thread) and one
unbounded, as before (SERVER_MAX_QUEUED=100000). Closed-loop clients post bus.jpg for
``--seconds`` each; a shed client waits the Retry-After it is given, as a well-behaved client does.

1. The sustainable concurrency on the bounded server: the highest of 1, 2, 3, ... whose p99 stays
   within 2x the p99 at concurrency 1.
2. At 4x that concurrency, both servers, run alternately in the same blocks: accepted p50/p99,
   shed fraction, errors; and the ratios unbounded / bounded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtimes.fastapi.tests.conftest import TOY_HANDLER, encode, ultralytics_asset
from runtimes.fastapi.tests.server_process import running_server


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def load(url: str, body: bytes, concurrency: int, seconds: float) -> dict:
    """``concurrency`` closed-loop clients for ``seconds``: accepted latencies, shed and errors."""
    accepted: list[float] = []
    counts = {"shed": 0, "errors": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while time.monotonic() < stop:
                start = time.perf_counter()
                try:
                    answer = http.post(url, content=body, headers={"content-type": "image/jpeg"})
                except httpx.HTTPError:
                    with lock:
                        counts["errors"] += 1
                    continue
                took = time.perf_counter() - start
                with lock:
                    if answer.status_code == 200:
                        accepted.append(took)
                    elif answer.status_code == 503 and "retry-after" in answer.headers:
                        counts["shed"] += 1
                    else:
                        counts["errors"] += 1
                if answer.status_code == 503:
                    time.sleep(float(answer.headers.get("retry-after", 1)))

    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(client) for _ in range(concurrency)]:
            future.result()
    total = len(accepted) + counts["shed"] + counts["errors"]
    return {
        "p50": percentile(accepted, 50),
        "p99": percentile(accepted, 99),
        "accepted": len(accepted),
        "shed": counts["shed"] / total if total else 0.0,
        "errors": counts["errors"],
    }


def line(name: str, concurrency: int, result: dict) -> str:
    return (
        f"{name:<10} c={concurrency:<3} accepted p50 {result['p50'] * 1000:8.1f} ms  p99 "
        f"{result['p99'] * 1000:8.1f} ms  accepted {result['accepted']:5d}  shed {result['shed']:6.1%}  "
        f"errors {result['errors']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10, help="per measurement (default 10)")
    parser.add_argument("--toy", action="store_true", help="a 50 ms sleeping handler instead of yolo")
    parser.add_argument("--max-concurrency", type=int, default=8, help="stop the search here (8)")
    args = parser.parse_args()

    image = ultralytics_asset("bus.jpg")
    if args.toy:
        body = b"sleep:0.05;" + encode(Image.new("RGB", (8, 8)), "PNG")
        model = {"MODEL_NAME": "toy", "MODEL_HANDLER": TOY_HANDLER}
    else:
        from tools.artifacts import build_artifacts

        body = image
        weights = build_artifacts("//models/yolo:weights")
        model = {
            "MODEL_NAME": "yolo",
            "MODEL_HANDLER": "models.yolo.handler:YOLOModelHandler",
            "MODEL_PATH": str(weights / "model.xml"),
        }
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        if args.toy:
            gate = Path(tmp) / "gate"
            gate.write_text("open")
            model["MODEL_PATH"] = str(gate)
        common = {**model, "SERVER_LOG_LEVEL": "warning", "SERVER_INFERENCE_THREADS": "1"}
        servers = {
            "bounded": stack.enter_context(running_server(common, Path(tmp), wait_for="/ready")),
            "unbounded": stack.enter_context(
                running_server({**common, "SERVER_MAX_QUEUED": "100000"}, Path(tmp), wait_for="/ready")
            ),
        }
        urls = {name: f"{server.base_url}/predict" for name, server in servers.items()}
        load(urls["bounded"], body, 1, 2)  # warm-up
        load(urls["unbounded"], body, 1, 2)

        print("1. sustainable concurrency (bounded server): p99 within 2x the p99 at concurrency 1")
        first = load(urls["bounded"], body, 1, args.seconds)
        print(line("bounded", 1, first))
        sustainable = 1
        for concurrency in range(2, args.max_concurrency + 1):
            result = load(urls["bounded"], body, concurrency, args.seconds)
            print(line("bounded", concurrency, result))
            if result["p99"] > 2 * first["p99"] or result["shed"] > 0:
                break
            sustainable = concurrency
        overload = 4 * sustainable
        print(f"sustainable concurrency {sustainable}; overload at 4x = {overload}")

        print(f"2. overload, concurrency {overload}, alternating blocks of {args.seconds / 2:.0f} s")
        merged, results = {}, {}
        for _ in range(2):
            for name, url in urls.items():
                results.setdefault(name, []).append(load(url, body, overload, args.seconds / 2))
        for name, runs in results.items():
            merged[name] = {
                "p50": sum(r["p50"] for r in runs) / len(runs),
                "p99": max(r["p99"] for r in runs),
                "accepted": sum(r["accepted"] for r in runs),
                "shed": sum(r["shed"] for r in runs) / len(runs),
                "errors": sum(r["errors"] for r in runs),
            }
            print(line(name, overload, merged[name]))
        bounded, unbounded = merged["bounded"], merged["unbounded"]
        print(
            f"ratios unbounded / bounded: accepted p50 {unbounded['p50'] / bounded['p50']:.2f}x, "
            f"accepted p99 {unbounded['p99'] / bounded['p99']:.2f}x; "
            f"bounded accepted p99 / p99 at concurrency 1: {bounded['p99'] / first['p99']:.2f}x; "
            f"shed fraction bounded {bounded['shed']:.1%}, unbounded {unbounded['shed']:.1%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
