"""On a machine with an NVIDIA GPU: proves gpt2's GPU image serves on the GPU, and measures it.

    .venvs/dev/bin/python bench/gpu_smoke.py [--requests 32] [--max-new-tokens 32]

Needs: an NVIDIA driver for CUDA 13.0 (R580 or newer: the GPU image's torch is 2.14.1+cu130; its
tritonserver brings its own CUDA 12.6 runtime, which that driver also serves) with nvidia-smi;
podman with the NVIDIA Container Toolkit's CDI spec (`nvidia-ctk cdi generate
--output=/etc/cdi/nvidia.yaml`, so `--device nvidia.com/gpu=all` works); and the two images
of models/gpt2/model.yaml `images` (built here, from the cache if built before: `./dev build
//models/gpt2:image_gpu`). Nothing else: no cluster, no registry.

For each variant (cpu, then gpu) it starts the image under podman as the platform does (uid 65532,
read-only root, no capabilities) with the config.pbtxt the manifests mount for that device
(KIND_CPU / KIND_GPU), sends the same greedy prompts, and then checks:

- the GPU run's text equals the CPU run's (greedy decoding of the same weights; a differing token
  is printed, and the run fails unless the first --match-tokens words agree);
- the request landed on the GPU: Triton's own metrics (`nv_gpu_memory_used_bytes` > 0 and
  `nv_gpu_utilization` seen above 0 during the requests, :8002/metrics) and `nvidia-smi
  --query-compute-apps` listing the Python backend stub;
- throughput: requests/s of each, and GPU / CPU.

Exit 0 when every check passes, 1 when one fails, 2 when the machine lacks a GPU or podman. Bounded:
each server gets 180 s to become ready and the requests are capped, so a run stays under 5 minutes.
Not run where this was written (no GPU there); the CPU half is what models/gpt2/tests runs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

PROMPTS = ["The platform serves models", "Once upon a time", "GPUs are", "A small model"]
READY_SECONDS = 180


def fail(message: str, code: int = 1) -> None:
    print(f"gpu_smoke: {message}", file=sys.stderr)
    sys.exit(code)


def preflight() -> None:
    if (
        shutil.which("nvidia-smi") is None
        or subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode
    ):
        fail("no NVIDIA GPU here: nvidia-smi -L fails (install the driver, or run this on a GPU node)", 2)
    if shutil.which("podman") is None:
        fail("podman is not installed", 2)


def load(label) -> str:
    """Builds (cached) the image and loads its OCI layout into podman; returns the image ID."""
    from tools.oci.builder import build_image

    built = build_image(label)
    out = subprocess.run(["podman", "pull", "-q", f"oci:{built.layout_dir}"], capture_output=True, text=True)
    if out.returncode:
        fail(f"podman could not load {label}: {out.stderr.strip()}")
    return out.stdout.strip().splitlines()[-1]


def metrics(port: int) -> dict[str, float]:
    """Triton's GPU gauges, summed over GPUs: nv_gpu_utilization, nv_gpu_memory_used_bytes."""
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found: dict[str, float] = {}
    for name, value in re.findall(
        r"^(nv_gpu_utilization|nv_gpu_memory_used_bytes)\{[^}]*\} (\S+)$", text, re.M
    ):
        found[name] = found.get(name, 0.0) + float(value)
    return found


def serve(image: str, device: str, config: Path, ports: tuple[int, int, int]):
    http, grpc, metrics_port = ports
    gpu = ["--device", "nvidia.com/gpu=all"] if device == "gpu" else []
    command = [
        "podman", "run", "--rm", "--network", "host", "--read-only", "--user", "65532:65532",
        "--cap-drop=ALL", "--security-opt", "no-new-privileges", "--tmpfs", "/tmp:rw,size=1g,mode=1777",
        "--volume", f"{config}:/models/gpt2/config.pbtxt:ro", *gpu, image,
        "--model-repository=/models", "--address=127.0.0.1", f"--http-port={http}",
        f"--grpc-port={grpc}", f"--metrics-port={metrics_port}",
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_ready(server, http: int) -> None:
    import httpx

    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            fail(f"the server exited:\n{server.stdout.read()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{http}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    server.terminate()
    fail(f"not ready after {READY_SECONDS} s:\n{server.stdout.read()[-3000:]}")


def run_variant(label, device: str, args) -> dict:
    from models.gpt2.client import connect, generate
    from runtimes.triton.deploy_config import config_files
    from tools.paths import REPO_ROOT
    from tools.testing.ports import free_port

    image = load(label)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.pbtxt"
        config.write_text(
            config_files(REPO_ROOT / "models/gpt2", "gpt2", gpu=device == "gpu")["config.pbtxt"]
        )
        config.chmod(0o644)
        ports = (free_port(), free_port(), free_port())
        server = serve(image, device, config, ports)
        try:
            wait_ready(server, ports[0])
            url = f"http://127.0.0.1:{ports[0]}"
            client = connect(url)
            texts = generate(url, PROMPTS, max_new_tokens=args.max_new_tokens, client=client)
            peak = {"nv_gpu_utilization": 0.0}
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    seen = metrics(ports[2]).get("nv_gpu_utilization", 0.0)
                    peak["nv_gpu_utilization"] = max(peak["nv_gpu_utilization"], seen)
                    time.sleep(0.5)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            start = time.perf_counter()
            for _ in range(args.requests):
                generate(url, PROMPTS, max_new_tokens=args.max_new_tokens, client=client)
            seconds = time.perf_counter() - start
            stop.set()
            sampler.join()
            result = {"texts": texts, "rps": args.requests / seconds, **metrics(ports[2]), **peak}
            if device == "gpu":
                apps = subprocess.run(
                    [
                        "nvidia-smi",
                        "--query-compute-apps=pid,process_name,used_memory",
                        "--format=csv,noheader",
                    ],
                    capture_output=True,
                    text=True,
                ).stdout
                result["compute_apps"] = [line for line in apps.splitlines() if "triton" in line]
            client[1].close()
            return result
        finally:
            server.terminate()
            server.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=32, help="timed requests per variant (each 4 prompts)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--match-tokens", type=int, default=8, help="leading words that must agree")
    args = parser.parse_args(argv)
    args.requests = min(args.requests, 200)  # keeps a run under 5 minutes
    preflight()
    from tools.k8s.schema.specs import read_model

    variants = read_model("gpt2").images.labels()
    cpu = run_variant(variants["cpu"], "cpu", args)
    gpu = run_variant(variants["gpu"], "gpu", args)
    problems = []
    for prompt, want, got in zip(PROMPTS, cpu["texts"], gpu["texts"], strict=True):
        if want != got:
            print(f"differs for {prompt!r}:\n  cpu: {want!r}\n  gpu: {got!r}")
            if want.split()[: args.match_tokens] != got.split()[: args.match_tokens]:
                problems.append(
                    f"the GPU text differs from the CPU's within the first {args.match_tokens} words"
                )
    if not gpu.get("nv_gpu_memory_used_bytes"):
        problems.append(
            "Triton reports no GPU memory in use (nv_gpu_memory_used_bytes): the model is not on the GPU"
        )
    if not gpu["nv_gpu_utilization"]:
        problems.append("nv_gpu_utilization stayed 0 during the requests: they did not run on the GPU")
    if not gpu["compute_apps"]:
        problems.append("nvidia-smi lists no Triton process using the GPU")
    print(f"cpu: {cpu['rps']:.2f} requests/s ({len(PROMPTS)} prompts x {args.max_new_tokens} tokens each)")
    print(
        f"gpu: {gpu['rps']:.2f} requests/s, peak nv_gpu_utilization {gpu['nv_gpu_utilization']:.2f}, ", end=""
    )
    print(f"GPU memory {gpu.get('nv_gpu_memory_used_bytes', 0) / 2**20:.0f} MiB, {gpu['compute_apps']}")
    print(f"gpu / cpu throughput: {gpu['rps'] / cpu['rps']:.2f}x")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
