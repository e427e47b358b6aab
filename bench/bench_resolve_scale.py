"""How resolving scales with the number of models: every model in every environment, N = 3, 30, 100.

    .venvs/dev/bin/python bench/bench_resolve_scale.py [--sizes 3 30 100] [--unshared 3 30]

For each N, a scratch copy of the repo's data (platform/, runtimes/, and N synthetic models made
from yolo, gpt2 and resnet50 in turn, each with its own entry in every environment file) is
resolved, every model in every environment, in a fresh process: the way the golden check and a
"resolve everything" CI job do it, with one shared ``Catalog`` (each file parsed once, loaded data
shared across resolves). Printed per N: the number of pairs, time per model-environment pair,
YAML files parsed (in one round), and the process's peak memory (ru_maxrss). Every N does the same
number of resolves (rounds of all its pairs); times are means over the rounds. Then the ratios
the issue asks for (issue 13): per-pair time at N = 100 within 1.5x of N = 3, and at most 20 ms per pair.

``--unshared`` also times the same job with a new Catalog per pair (what resolving one model from
the command line costs, and what every resolve cost before the Catalog): its per-pair time grows
with N, because every environment load checks every model.
Nothing is hard-coded: every number is measured in this run.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from tools.k8s.schema import specs
from tools.paths import REPO_ROOT

TEMPLATES = ("yolo", "gpt2", "resnet50")
RESOLVES_PER_N = 900  # N = 100 in three environments is 300 pairs: three rounds
FIRST_HOST_PORT = 20000  # the local environment publishes each model on its own loopback ports
_SKIP = shutil.ignore_patterns("__pycache__", "tests", "*.py", "*.pt", "*.onnx", "weights", "BUILD.bazel")


def make_scratch_repo(root: Path, n: int) -> None:
    """platform/ and runtimes/ as committed, and models synth-000 .. synth-<n-1> (no real ones)."""
    shutil.copytree(REPO_ROOT / "platform", root / "platform", ignore=_SKIP)
    shutil.copytree(REPO_ROOT / "runtimes", root / "runtimes", ignore=_SKIP)
    env_files = sorted((root / "platform" / "environments").glob("*.yaml"))
    envs = {path: yaml.safe_load(path.read_text()) for path in env_files}
    templates = {path: data["models"] for path, data in envs.items()}
    for data in envs.values():
        data["models"] = {}
    next_port = FIRST_HOST_PORT
    for index in range(n):
        template = TEMPLATES[index % len(TEMPLATES)]
        name = f"synth-{index:03d}"
        model_dir = specs.model_dir(name, root)  # models/synth_000: a package name takes no "-"
        shutil.copytree(REPO_ROOT / "models" / template, model_dir, ignore=_SKIP)
        repository = model_dir / "model_repository"
        if repository.is_dir():  # Triton: the directory is named after the model
            (repository / template).rename(repository / name)
        spec = yaml.safe_load((model_dir / "model.yaml").read_text())
        variants = {"cpu": "image", "gpu": "image_gpu"}
        spec.update(name=name, images={d: f"//models/{model_dir.name}:{variants[d]}" for d in spec["images"]})
        (model_dir / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        for path, data in envs.items():
            entry = json.loads(json.dumps(templates[path][template]))
            if entry.get("hostPorts"):
                entry["hostPorts"] = {port: next_port + i for i, port in enumerate(entry["hostPorts"])}
            data["models"][name] = entry
        next_port += 10
    for path, data in envs.items():
        path.write_text(yaml.safe_dump(data, sort_keys=False))


def measure(root: Path, shared: bool) -> dict:
    """Resolves every pair under ``root`` in this process; the numbers for one N."""
    from tools.k8s.checks.golden import synthetic_digests
    from tools.k8s.render.resolve import resolve
    from tools.k8s.schema.catalog import Catalog

    parsed = 0
    from tools import yamlio

    load = yamlio.load_yaml

    def counting_load(path):
        nonlocal parsed
        parsed += 1
        return load(path)

    for module in ("tools.k8s.schema.specs", "tools.k8s.schema.environments"):
        sys.modules[module].load_yaml = counting_load

    # Code is imported once per process whatever N is (the runtimes' hooks import protobuf and the
    # TF Serving protos on first use): one resolve per runtime first, timed apart and not counted,
    # so per-pair times compare the work that grows with N.
    started_warmup = time.perf_counter()
    warm = Catalog(root)
    for template in range(min(len(TEMPLATES), len(warm.model_names))):
        model = warm.model_names[template]
        resolve(model, warm.environment_names[0], synthetic_digests(model, warm), catalog=warm)
    warmup = time.perf_counter() - started_warmup
    parsed = 0

    # The same number of resolves for every N (rounds of all pairs, each round with a fresh
    # Catalog, so each loads everything again): the machine is shared, and equal work makes the
    # noise comparable. The time per pair is the mean over all rounds.
    pair_count = len(warm.model_names) * len(warm.environment_names)
    rounds = max(1, -(-RESOLVES_PER_N // pair_count))
    counted, total, objects = None, 0.0, 0
    for _ in range(rounds):
        start = time.perf_counter()
        catalog = Catalog(root)
        pairs = [(m, e) for m in catalog.model_names for e in catalog.environment_names]
        for model, env in pairs:
            own = catalog if shared else Catalog(root)
            objects += len(resolve(model, env, synthetic_digests(model, own), catalog=own))
        total += time.perf_counter() - start
        counted = parsed if counted is None else counted
    elapsed = total / rounds
    return {
        "pairs": len(pairs),
        "objects": objects,
        "seconds": elapsed,
        "warmup_seconds": warmup,
        "ms_per_pair": 1000 * elapsed / len(pairs),
        "yaml_parses": counted,
        "rounds": rounds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "libyaml": bool(getattr(yaml, "__with_libyaml__", False)),
    }


def run_child(n: int, shared: bool) -> dict:
    """One N in a fresh process, so each peak memory is its own."""
    with tempfile.TemporaryDirectory(prefix=f"bench-scale-{n}-") as scratch:
        make_scratch_repo(Path(scratch), n)
        args = [sys.executable, __file__, "--child", scratch]
        if not shared:
            args.append("--unshared-child")
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.exit(f"N={n}: the child failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 30, 100])
    parser.add_argument("--unshared", type=int, nargs="*", default=[3, 30], help="N to time without sharing")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--unshared-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, shared=not args.unshared_child)))
        return 0

    print(
        "Per N, in a fresh process: one warm-up resolve per runtime (imports; timed apart), then every pair."
    )
    print(f"{'N':>4} {'pairs':>6} {'ms/pair':>8} {'s/round':>8} {'YAML parses':>12} {'peak MB':>8}  mode")
    results = {}
    for n in args.sizes:
        r = results[n] = run_child(n, shared=True)
        print(
            f"{n:>4} {r['pairs']:>6} {r['ms_per_pair']:>8.2f} {r['seconds']:>8.2f} {r['yaml_parses']:>12} "
            f"{r['peak_rss_mb']:>8.0f}  shared Catalog (libyaml: {r['libyaml']}; "
            f"warm-up {r['warmup_seconds']:.2f} s)"
        )
    unshared = {}
    for n in args.unshared:
        r = unshared[n] = run_child(n, shared=False)
        print(
            f"{n:>4} {r['pairs']:>6} {r['ms_per_pair']:>8.2f} {r['seconds']:>8.2f} {r['yaml_parses']:>12} "
            f"{r['peak_rss_mb']:>8.0f}  a new Catalog per pair"
        )
    small, large = min(results), max(results)
    growth = results[large]["ms_per_pair"] / results[small]["ms_per_pair"]
    worst = results[large]["ms_per_pair"]
    verdict = "met" if growth <= 1.5 else "MISSED"
    print(f"\nper-pair time N={large} / N={small}: {growth:.2f}x (target <= 1.5x: {verdict})")
    print(
        f"per-pair time at N={large}: {worst:.2f} ms (target <= 20 ms: {'met' if worst <= 20 else 'MISSED'})"
    )
    files = large + len(TEMPLATES) + len(list((REPO_ROOT / "platform" / "environments").glob("*.yaml"))) + 1
    print(f"YAML parses at N={large}: {results[large]['yaml_parses']} for {files} data files")
    for n in sorted(set(unshared) & set(results)):
        ratio = unshared[n]["ms_per_pair"] / results[n]["ms_per_pair"]
        print(f"sharing loaded data at N={n}: {ratio:.1f}x faster per pair than a new Catalog per pair")
    return 0


if __name__ == "__main__":
    sys.exit(main())
