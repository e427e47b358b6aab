"""Soak with a crash: concurrency 16 for 60 s against a model on a podman environment, its server
process SIGKILLed in the middle (issue 17). With ``--replace``, the model is instead replaced by
another version in the middle (``servectl rollback``, so it needs two recorded revisions): the
fixed port is the model's front proxy, and "during" spans the whole rollback.

    flock /tmp/cf-local.lock sh -c './dev apply yolo --env local &&
        .venvs/dev/bin/python bench/bench_soak_kill.py [--env local --model yolo --seconds 60] [--replace]'

The model must already be applied (its pod's restartPolicy Always, tools/deploy/podman/play.py).
Closed-loop clients post bus.jpg to /predict; a shed client waits its Retry-After. At half time
the server process gets SIGKILL from outside podman, as from the OOM killer. Prints, before the
kill, from the kill until the first answer after it, and after: answers, errors (refused
connections, resets, 5xx other than shed), shed requests, and accepted p50/p99; then the time to
recover and the restart count `status` shows.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtimes.fastapi.tests.conftest import ultralytics_asset
from tools.deploy import Deploy, open_target
from tools.deploy.podman.client import podman_env


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def server_pid(target, model: str) -> int:
    pods = target.pods.list(target.serving_pod(model))
    (name,) = [c["Names"] for p in pods for c in p["Containers"] if "infra" not in c["Names"]]
    out = subprocess.run(
        ["podman", "inspect", name, "--format", "{{.State.Pid}}"],
        capture_output=True, text=True, env=podman_env(), check=True,
    )  # fmt: skip
    return int(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="local")
    parser.add_argument("--model", default="yolo")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--replace", action="store_true", help="roll back to the previous revision instead of killing"
    )
    args = parser.parse_args()

    deploy = Deploy.load(args.model, args.env)
    target = open_target(deploy.env)
    url = deploy.endpoint(target) + "/predict"
    image = ultralytics_asset("bus.jpg")
    results: list[tuple[float, str, float]] = []  # (time sent, outcome, latency)
    lock = threading.Lock()
    start = time.monotonic()
    stop = start + args.seconds

    def client() -> None:
        with httpx.Client(timeout=30) as http:
            while time.monotonic() < stop:
                sent = time.monotonic()
                try:
                    answer = http.post(url, content=image, headers={"content-type": "image/jpeg"})
                    outcome = {200: "ok", 503: "shed" if "retry-after" in answer.headers else "error"}.get(
                        answer.status_code, "error"
                    )
                except httpx.HTTPError:
                    outcome = "error"
                with lock:
                    results.append((sent - start, outcome, time.monotonic() - sent))
                if outcome == "shed":
                    time.sleep(float(answer.headers.get("retry-after", 1)))
                elif outcome == "error":
                    time.sleep(0.1)  # a refused connection returns at once: do not spin

    with ThreadPoolExecutor(args.concurrency) as pool:
        futures = [pool.submit(client) for _ in range(args.concurrency)]
        time.sleep(args.seconds / 2)
        if args.replace:
            killed = time.monotonic() - start
            command = [sys.executable, "-m", "tools", "rollback", args.model, "--env", args.env]
            rollback = subprocess.run(
                command, capture_output=True, text=True, cwd=Path(__file__).parent.parent
            )
            replaced = time.monotonic() - start
            said = rollback.stdout.strip() or rollback.stderr[-300:]
            print(f"rollback from {killed:.1f} s to {replaced:.1f} s: {said}")
        else:
            pid = server_pid(target, args.model)
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic() - start
            print(f"SIGKILL to pid {pid} at {killed:.1f} s")
        for future in futures:
            future.result()

    if args.replace:
        recovered = replaced  # "during": the whole replacement; the port was never expected to close
    else:
        recovered = min((t for t, o, _ in results if t > killed and o == "ok"), default=None)
    windows = {
        "before": (0, killed),
        "during": (killed, recovered if recovered is not None else args.seconds),
        "after": (recovered if recovered is not None else args.seconds, args.seconds + 60),
    }
    for name, (low, high) in windows.items():
        inside = [r for r in results if low <= r[0] < high]
        ok = [lat for _, o, lat in inside if o == "ok"]
        errors = sum(1 for r in inside if r[1] == "error")
        shed = sum(1 for r in inside if r[1] == "shed")
        print(
            f"{name:<7} {high - low if high < args.seconds + 60 else args.seconds - low:5.1f} s  "
            f"answers {len(ok):4d}  errors {errors:4d}  shed {shed:4d}  "
            f"p50 {percentile(ok, 50) * 1000:7.1f} ms  p99 {percentile(ok, 99) * 1000:7.1f} ms"
        )
    if recovered is None:
        print("no answer after the kill: the model did not come back")
        return 1
    if not args.replace:
        print(f"first answer {recovered - killed:.1f} s after the kill")
    with target:
        print("\n".join(deploy.status(target).lines[:1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
