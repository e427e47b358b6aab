"""Image size against the naive recipe, and what an app-only change costs to push.

Run on demand (the naive yolo stack is a ~6 GB pip install; this takes minutes):

    .venvs/dev/bin/python bench/bench_image_size.py [--image yolo] [--skip-naive]

For each image: our compressed size (sum of its gzip layers + config, as a registry stores it)
against the naive recipe the platform replaces: the same Debian python base plus a plain
``pip install`` of the model's original requirements (with their own dependencies, no hash lock,
no trimming) plus the model's full artifact directory, gzip'd by the same layer writer. Then an
app-only change: push the image to a throwaway local registry, append a comment to one app file
(in a scratch copy of the repo, never the checkout), rebuild and push again; bytes sent over the
wire as a fraction of the image. Targets (issue 8): yolo <= 0.25x naive; app-only <= 1%.
Ratios are measured in this one run; nothing is hard-coded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.artifacts import build_artifacts
from tools.bazel.build_file import read_target
from tools.errors import UserError
from tools.labels import Label
from tools.oci import registry
from tools.oci.builder import build_image
from tools.oci.push import push_layout
from tools.oci.tarball import write_layer
from tools.paths import REPO_ROOT, build_dir

# The naive recipe per image: the requirements each model's original code asked for.
NAIVE = {
    "yolo": {
        "label": "//models/yolo:image",
        "requirements": [
            "torch",
            "torchvision",
            "opencv-python-headless",
            "ultralytics",
            "fastapi",
            "uvicorn",
            "python-multipart",
        ],
        "app_file": "runtimes/fastapi/__main__.py",
    },
    "gpt2": {
        "label": "//models/gpt2:image",
        "requirements": ["torch", "transformers", "tokenizers", "nvidia-pytriton"],
        "app_file": "models/gpt2/model_repository/gpt2/1/model.py",
    },
}


def image_bytes(built) -> int:
    return sum(blob.size for _, blob in built.layers) + len(str(built.config))


def naive_size(name: str, built, scratch: Path) -> int:
    """Same base + app + artifacts as ours, but a plain pip install and the whole artifact dir."""
    spec = NAIVE[name]
    site = scratch / "naive" / "usr/local/lib/python3.11/dist-packages"
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(site), *spec["requirements"]],
        check=True,
    )
    pip_layer = write_layer(scratch / "naive", scratch / "naive.tar.gz")
    shutil.rmtree(scratch / "naive")
    size = pip_layer.size
    for what, blob in built.layers:
        if what.startswith(("debian", "app")):
            size += blob.size
    target = Label.parse(spec["label"])
    for destination, artifact in read_target(target).attrs.get("artifacts", {}).items():
        source = build_artifacts(Label.parse(artifact, package=target.package))
        staged = scratch / "artifacts" / destination.strip("/")
        shutil.copytree(source, staged)
        size += write_layer(scratch / "artifacts", scratch / "artifacts.tar.gz").size
        shutil.rmtree(scratch / "artifacts")
    print(
        f"  naive: pip install {' '.join(spec['requirements'])}: {pip_layer.size / 1e6:.1f} MB gzip "
        f"({time.monotonic() - started:.0f} s)"
    )
    return size


def scratch_repo(scratch: Path, app_file: str, repo_root: Path) -> Path:
    """A repo root of symlinks, with the changed file's top directory copied (edits stay here)."""
    root = scratch / "repo"
    root.mkdir()
    top = app_file.split("/")[0]
    for entry in repo_root.iterdir():
        if entry.name in (".git", ".venvs", ".build"):
            continue
        if entry.name == top:
            shutil.copytree(
                entry.resolve(), root / top, ignore=shutil.ignore_patterns("__pycache__", "tests")
            )
        else:
            (root / entry.name).symlink_to(entry.resolve())
    return root


def app_only_change(name: str, built, scratch: Path, port: int, repo_root: Path) -> tuple[int, int, int]:
    spec = NAIVE[name]
    state_dir = scratch / "registry"
    state = registry.start(port, state_dir=state_dir)
    try:
        repository = f"bench/{name}"
        push_layout(built.layout_dir, state.address, repository)
        root = scratch_repo(scratch, spec["app_file"], repo_root)
        changed_file = root / spec["app_file"]
        changed_file.write_text(changed_file.read_text() + "\n# an app-only change\n")
        changed = build_image(Label.parse(spec["label"]), root=root)
        result = push_layout(changed.layout_dir, state.address, repository)
        build_image(Label.parse(spec["label"]), root=repo_root)  # the layout back to the checkout's
        return result.blobs_sent, result.bytes_sent, result.bytes_total
    finally:
        registry.stop(state_dir=state_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", choices=sorted(NAIVE), action="append", help="default: all")
    parser.add_argument("--skip-naive", action="store_true", help="skip the slow naive install")
    parser.add_argument("--port", type=int, default=0, help="throwaway registry port (default: free)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repo root to read BUILD files from")
    args = parser.parse_args()
    print(f"build dir: {build_dir()}")
    for name in args.image or sorted(NAIVE):
        print(f"{name}:")
        try:
            built = build_image(Label.parse(NAIVE[name]["label"]), root=args.root)
        except UserError as error:
            print(f"  not built: {error}")
            continue
        ours = image_bytes(built)
        print(f"  ours: {ours / 1e6:.1f} MB in {len(built.layers)} layers")
        with tempfile.TemporaryDirectory(prefix="bench-image-") as tmp:
            scratch = Path(tmp)
            if not args.skip_naive:
                naive = naive_size(name, built, scratch)
                print(f"  naive: {naive / 1e6:.1f} MB; ours/naive = {ours / naive:.3f} (target <= 0.25)")
            port = args.port or _free_port()
            blobs, sent, total = app_only_change(name, built, scratch, port, args.root)
            print(
                f"  app-only change: {blobs} blobs, {sent} of {total} bytes pushed = {sent / total:.4%} "
                "(target <= 1%)"
            )
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
