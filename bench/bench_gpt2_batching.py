"""gpt2 on the real tritonserver: throughput at concurrency 8 with dynamic batching vs sequential.

    .venvs/dev/bin/python bench/bench_gpt2_batching.py [--requests 64] [--max-new-tokens 32]

One run, three measurements, all greedy generation of the same prompts over HTTP:

1. sequential: one client, one request at a time, against the real config (dynamic batching on);
2. concurrency 8 against the same config with its ``dynamic_batching`` block removed (each request
   runs alone; shows what concurrency alone gives);
3. concurrency 8 against the real config: the dynamic batcher merges the queued requests and
   model.py generates them in one ``generate()``.

It prints requests/s and rows per execute() for each, and the ratios; the target is 3 / 1 >= 4x
with >= 7 rows per execute() (Triton's docs report 3.7x on their example). Numbers are from this
machine in this run; nothing is asserted. Weights come from the cached ``//models/gpt2:weights``
artifact (built on first use).
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from models.gpt2 import client as gpt2_client
from models.gpt2.repository import MODEL_NAME, assemble
from runtimes.triton.local import local_server
from tools.artifacts import build_artifacts

CONCURRENCY = 8


def _prompts(count: int) -> list[str]:
    return [f"Request {i}: once upon a time the harbour" for i in range(count)]


def _without_dynamic_batching(repository: Path) -> None:
    config = repository / MODEL_NAME / "config.pbtxt"
    text, removed = re.subn(r"\ndynamic_batching \{.*?\n\}\n", "\n", config.read_text(), flags=re.DOTALL)
    assert removed == 1, "the config's dynamic_batching block was not found"
    config.write_text(text)


def _tune(repository: Path, instances: int | None, delay_us: int | None) -> None:
    """Overrides the instance count and the batcher's queue delay in an assembled copy (to measure
    candidates against the shipped config; the shipped values live in config.pbtxt.tmpl)."""
    config = repository / MODEL_NAME / "config.pbtxt"
    text = config.read_text()
    if instances is not None:
        text, found = re.subn(r"(instance_group \[\s*\{\s*count: )\d+", rf"\g<1>{instances}", text)
        assert found == 1, "the config's instance_group count was not found"
    if delay_us is not None:
        key = "max_queue_delay_microseconds"
        text, found = re.subn(rf"{key}: \d+", f"{key}: {delay_us}", text)
        assert found == 1, "the config's max_queue_delay_microseconds was not found"
    config.write_text(text)


def run_sequential(url: str, prompts: list[str], max_new_tokens: int) -> float:
    connection = gpt2_client.connect(url)
    try:
        started = time.perf_counter()
        for prompt in prompts:
            gpt2_client.generate(url, [prompt], max_new_tokens=max_new_tokens, client=connection)
        return time.perf_counter() - started
    finally:
        connection[1].close()


def run_concurrent(url: str, prompts: list[str], max_new_tokens: int, workers: int) -> float:
    work: queue.Queue[str] = queue.Queue()
    for prompt in prompts:
        work.put(prompt)
    errors: list[Exception] = []

    def worker():
        connection = gpt2_client.connect(url)
        try:
            while True:
                try:
                    prompt = work.get_nowait()
                except queue.Empty:
                    return
                gpt2_client.generate(url, [prompt], max_new_tokens=max_new_tokens, client=connection)
        except Exception as error:  # surfaced after the run
            errors.append(error)
        finally:
            connection[1].close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def _executions(url: str) -> tuple[int, int]:
    _, client = gpt2_client.connect(url)
    try:
        stats = client.get_inference_statistics(MODEL_NAME)["model_stats"][0]
        return stats["inference_count"], stats["execution_count"]
    finally:
        client.close()


def measure(repository: Path, prompts, max_new_tokens: int, *, sequential: bool, log_file: Path) -> dict:
    with local_server(repository, log_file=log_file) as server:
        url = server.options.http_url
        run_concurrent(url, prompts[:CONCURRENCY], max_new_tokens, CONCURRENCY)  # warm-up
        results = {}
        if sequential:
            results["sequential"] = run_sequential(url, prompts, max_new_tokens)
        before = _executions(url)
        results["concurrent"] = run_concurrent(url, prompts, max_new_tokens, CONCURRENCY)
        after = _executions(url)
        results["batch_size"] = (after[0] - before[0]) / max(1, after[1] - before[1])
        return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--instances", type=int, help="override instance_group count (a candidate)")
    parser.add_argument("--delay-us", type=int, help="override max_queue_delay_microseconds (a candidate)")
    args = parser.parse_args()
    prompts = _prompts(args.requests)
    weights = build_artifacts("//models/gpt2:weights")

    with tempfile.TemporaryDirectory(prefix="bench-gpt2-") as tmp:
        batched_repo = assemble(Path(tmp) / "batched", weights, link_weights=True)
        unbatched_repo = assemble(Path(tmp) / "unbatched", weights, link_weights=True)
        _without_dynamic_batching(unbatched_repo)
        for repository in (batched_repo, unbatched_repo):
            _tune(repository, args.instances, args.delay_us if repository is batched_repo else None)
        batched = measure(
            batched_repo, prompts, args.max_new_tokens, sequential=True, log_file=Path(tmp) / "a.log"
        )
        unbatched = measure(
            unbatched_repo, prompts, args.max_new_tokens, sequential=False, log_file=Path(tmp) / "b.log"
        )

    rows = [
        ("sequential (1 client)", batched["sequential"], 1.0),
        (f"concurrency {CONCURRENCY}, no dynamic batching", unbatched["concurrent"], unbatched["batch_size"]),
        (f"concurrency {CONCURRENCY}, dynamic batching", batched["concurrent"], batched["batch_size"]),
    ]
    setup = f"{args.requests} requests, up to {args.max_new_tokens} new tokens each, greedy, HTTP"
    tuned = f", instances {args.instances or 'as shipped'}, queue delay {args.delay_us or 'as shipped'} us"
    print(f"gpt2 on tritonserver: {setup}{tuned}; load average {' '.join(map(str, os.getloadavg()))}")
    print(f"{'':44} {'seconds':>8} {'req/s':>8} {'rows/execute':>13}")
    for name, seconds, rows_per_execute in rows:
        print(f"{name:44} {seconds:8.2f} {args.requests / seconds:8.1f} {rows_per_execute:13.2f}")
    sequential, unbatched_seconds, batched_seconds = (row[1] for row in rows)
    speedup = sequential / batched_seconds
    print(
        f"dynamic batching, concurrency {CONCURRENCY} vs sequential: {speedup:.2f}x with "
        f"{batched['batch_size']:.2f} rows per execute (target >= 4x with >= 7 rows)"
    )
    print(f"dynamic batching vs the same concurrency without it: {unbatched_seconds / batched_seconds:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
