"""yolo pod start to ready on `local`: `podman kube play` to the first 200 on /ready, and where it goes.

    flock /tmp/cf-local.lock .venvs/dev/bin/python bench/bench_yolo_start.py [--runs 5]

Needs the model applied once (``python -m tools apply yolo --env local``, which builds, pushes
and pulls the image): this plays the exact pod that apply recorded, in a slot of its own on free
loopback ports beside the serving pod (as apply starts a new version), ``--runs`` times, removing
it after each run. The serving pod and the model's proxy are never touched. The lock keeps other
runs from replacing the model meanwhile.

Per run: from invoking ``podman kube play`` to the first 200 on /ready (polled every 20 ms), split
by the server's own log lines into: podman (until the server process exists), interpreter and
imports, the model load's stages as the handler logs them (for the OpenVINO IR: import openvino,
read, compile, warm-up) and the rest (app, sockets, until the poll saw 200). Prints each run,
the medians and the load average before and after.
``--baseline IMAGE`` interleaves runs of another image (main's, say) in the same pod spec and
prints the ratio, measured in one run. Target: median <= 2 s.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.deploy.flow import Deploy
from tools.deploy.podman import PodmanTarget
from tools.deploy.podman.client import podman_env
from tools.deploy.podman.play import deployment, placed, published, readiness_url
from tools.testing.ports import free_port

STARTUP = re.compile(
    r"startup: process started [\d.]+ s ago \(epoch (?P<epoch>[\d.]+)\); .* took (?P<imports>[\d.]+) s"
)
# "model yolo ready in 1.234 s, import openvino 0.4 s, read 0.1 s, compile 0.5 s, warm-up 0.2 s"
LOADED = re.compile(r"model \S+ ready in (?P<load>[\d.]+) s(?P<stages>.*)")
STAGE = re.compile(r", (?P<name>[^,(\n]+(?:\([^)\n]*\))?) (?P<seconds>[\d.]+) s")
POLL_SECONDS = 0.02  # the readiness poll: fine enough to see 20 ms, rare enough not to load the server


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=podman_env(), check=check)


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def one_run(target: PodmanTarget, intent: list[dict], image: str, timeout: float) -> dict:
    """Plays ``intent`` with ``image`` in a bench slot on free ports; the timings of its start."""
    pod = placed(intent, {name: free_port() for name in published(intent)}, "bench")
    deployment(pod)["spec"]["template"]["spec"]["containers"][0]["image"] = image
    url = readiness_url(pod)
    with tempfile.NamedTemporaryFile("w", suffix=".play.yaml") as manifest:
        yaml.safe_dump_all(pod, manifest, sort_keys=True)
        manifest.flush()
        started = time.time()
        podman("kube", "play", "--network", "slirp4netns", "--tls-verify=false", manifest.name)
    played_at = time.time()
    try:
        while not ready(url):
            if time.time() - started > timeout:
                raise SystemExit(f"not ready after {timeout} s:\n{target.pods.logs(pod, lines=40)}")
            time.sleep(POLL_SECONDS)
        total = time.time() - started
        log = target.pods.logs(pod, lines=500)
    finally:
        target.pods.remove(pod)
    startup, loaded = STARTUP.search(log), LOADED.search(log)
    if not (startup and loaded):
        raise SystemExit(f"the server's startup lines are missing from its log:\n{log[-3000:]}")
    process_start = float(startup["epoch"]) - started
    imports = float(startup["imports"])
    load = float(loaded["load"])
    stages = {m["name"]: float(m["seconds"]) for m in STAGE.finditer(loaded["stages"])}
    return {
        "total": total,
        "kube play returns": played_at - started,
        "podman (to process start)": process_start,
        "interpreter + imports": imports,
        **stages,  # the model load's own stages, as its handler logs them (open..., warm-up)
        "rest (app, sockets, poll)": max(0.0, total - process_start - imports - load),
    }


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def print_runs(label: str, runs: list[dict]) -> dict:
    keys = list(dict.fromkeys(k for run in runs for k in run))
    print(f"\n{label}")
    print("".join(f"{k:>8}" if i == 0 else f"{k[:14]:>16}" for i, k in enumerate(["run", *keys])))
    for index, run in enumerate(runs, 1):
        print(f"{index:>8}" + "".join(f"{run.get(k, float('nan')):16.3f}" for k in keys))
    medians = {k: statistics.median(r.get(k, float("nan")) for r in runs) for k in keys}
    print(f"{'median':>8}" + "".join(f"{medians[k]:16.3f}" for k in keys))
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument(
        "--baseline",
        metavar="IMAGE",
        help="another yolo image (e.g. main's, by digest, already pulled): its runs are interleaved "
        "with the applied image's in the same pod spec, and the ratio printed",
    )
    args = parser.parse_args()
    target = PodmanTarget(Deploy.load("yolo", "local").env)
    intent = target.applied("yolo")
    if not intent:
        raise SystemExit("apply yolo to local first (python -m tools apply yolo --env local)")
    image = deployment(intent)["spec"]["template"]["spec"]["containers"][0]["image"]
    images = {"applied": image}
    print(f"image {image}")
    if args.baseline:
        images["baseline"] = args.baseline
        print(f"baseline {args.baseline}")
    print(f"load average before: {load_average()}")
    runs: dict[str, list[dict]] = {name: [] for name in images}
    for _ in range(args.runs):  # per round the baseline first, then the applied image
        for name in reversed(images):
            runs[name].append(one_run(target, intent, images[name], args.timeout))
    medians = {name: print_runs(f"{name} image", runs[name]) for name in images}
    print(f"\nload average after: {load_average()}")
    total = medians["applied"]["total"]
    verdict = "met" if total <= 2.0 else "NOT met"
    print(f"start to ready median {total:.2f} s (target <= 2 s: {verdict})")
    if args.baseline:
        print(f"applied / baseline start to ready: {total / medians['baseline']['total']:.3f}x")
    print("total = podman + imports + the model load's stages + rest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
