"""yolo pod start to ready on `local`: `podman kube play` to the first 200 on /ready, and where it goes.

    flock /tmp/cf-local.lock .venvs/dev/bin/python bench/bench_yolo_start.py [--runs 5]

Needs the model applied once (``python -m tools apply yolo --env local``, which builds, pushes
and pulls the image): this replays the exact pod that apply recorded
(``.build/local/local/yolo.play.yaml``), ``--runs`` times, removing the pod between runs and
leaving it running at the end as apply left it. It uses the `local` environment's fixed ports,
hence the lock.

Per run: from invoking ``podman kube play`` to the first 200 on /ready (polled every 10 ms), split
by the server's own log lines into: podman (until the server process exists), interpreter and
imports, app and sockets (until the model load starts), the backend's open (import, read,
compile) and warm-up, and the rest (until the poll saw 200). Prints each run and the medians.
Target: median <= 2 s.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.k8s.local import PodmanTarget, podman_env
from tools.paths import build_dir

STARTUP = re.compile(
    r"startup: process started [\d.]+ s ago \(epoch (?P<epoch>[\d.]+)\); .* took (?P<imports>[\d.]+) s"
)
LOADED = re.compile(
    r"model \S+ ready in (?P<load>[\d.]+) s, open \(import, read, compile\) (?P<open>[\d.]+) s, "
    r"warm-up (?P<warm>[\d.]+) s"
)


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=podman_env(), check=check)


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def one_run(target: PodmanTarget, played: list[dict], manifest: Path, url: str, timeout: float) -> dict:
    target._down("yolo", played)
    started = time.time()
    podman("kube", "play", "--network", "slirp4netns", "--tls-verify=false", str(manifest))
    played_at = time.time()
    while not ready(url):
        if time.time() - started > timeout:
            raise SystemExit(f"not ready after {timeout} s:\n{target._logs(played)}")
        time.sleep(0.01)
    total = time.time() - started
    log = target._logs(played)
    startup, loaded = STARTUP.search(log), LOADED.search(log)
    if not (startup and loaded):
        raise SystemExit(f"the server's startup lines are missing from its log:\n{log}")
    process_start = float(startup["epoch"]) - started
    imports = float(startup["imports"])
    load, opened, warm = float(loaded["load"]), float(loaded["open"]), float(loaded["warm"])
    return {
        "total": total,
        "kube play returns": played_at - started,
        "podman (to process start)": process_start,
        "interpreter + imports": imports,
        "rest (app, sockets, poll)": max(0.0, total - process_start - imports - load),
        "backend open": opened,
        "warm-up": warm,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    target = PodmanTarget("local")
    played = target.applied("yolo")
    manifest = target.state_dir / "yolo.play.yaml"
    if not played or not manifest.exists():
        raise SystemExit(f"apply yolo to local first (python -m tools apply yolo --env local); no {manifest}")
    url = target._readiness_url(played)
    image = target._deployment(played)["spec"]["template"]["spec"]["containers"][0]["image"]
    print(f"image {image}\nreadiness {url}\nmanifest {manifest.relative_to(build_dir().parent)}")
    runs = [one_run(target, played, manifest, url, args.timeout) for _ in range(args.runs)]
    keys = list(runs[0])
    print("".join(f"{k:>28}" if i == 0 else f"{k[:14]:>16}" for i, k in enumerate(["run", *keys])))
    for index, run in enumerate(runs, 1):
        print(f"{index:>28}" + "".join(f"{run[k]:16.3f}" for k in keys))
    medians = {k: statistics.median(r[k] for r in runs) for k in keys}
    print(f"{'median':>28}" + "".join(f"{medians[k]:16.3f}" for k in keys))
    verdict = "met" if medians["total"] <= 2.0 else "NOT met"
    print(f"start to ready median {medians['total']:.2f} s (target <= 2 s: {verdict})")
    print("total = podman + imports + backend open + warm-up + rest; 'kube play returns' overlaps them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
