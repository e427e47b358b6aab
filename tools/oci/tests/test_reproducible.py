"""Every CPU amd64 image this builder makes is bit-for-bit reproducible.

Each image is built twice from scratch (empty build dirs sharing only the verified .deb downloads)
under different TZ, umask and PYTHONHASHSEED; the digests must be equal. Weights, exports and pip
packages with their .pyc files are rebuilt both times. On a mismatch the failure names the first
differing layer and file. Run on its own: `python -m tools.oci.reproducible [LABEL ...]`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import tempfile
from pathlib import Path

import pytest

from tools.oci import reproducible
from tools.paths import build_dir

pytestmark = pytest.mark.slow


def test_the_builder_knows_which_images_it_can_build():
    labels = {str(label) for label in reproducible.buildable_images()}
    # The model images and their runtime bases; TF Serving's are on an upstream base (Bazel only).
    assert {"//models/yolo:image", "//models/gpt2:image", "//runtimes/fastapi:image"} <= labels
    assert {"//models/gpt2:image_gpu", "//runtimes/triton:image_gpu"} <= labels
    assert "//models/resnet50:image_gpu" not in labels
    assert "//models/resnet50:image" not in labels and "//runtimes/tfserving:image" not in labels


def test_every_buildable_image_builds_to_the_same_digest_twice():
    # Two builds of every image: under the build dir's filesystem, not pytest's (maybe tmpfs) /tmp.
    build_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reproducible-", dir=build_dir()) as scratch:
        # Not the GPU variants: each build installs ~4.5 GB of CUDA wheels, twice, uncached. Their
        # layers come from the same functions; check one on demand with
        # `python -m tools.oci.reproducible //models/gpt2:image_gpu`.
        cpu_images = [label for label in reproducible.buildable_images() if not label.name.endswith("_gpu")]
        verdicts = reproducible.check(cpu_images, Path(scratch))
    assert verdicts, "no image was checked"
    differing = [f"{v.label}: {v.difference}" for v in verdicts if v.difference is not None]
    assert not differing, "\n".join(differing)


def _layout(root, files: dict[str, bytes]):
    """A one-layer OCI layout with ``files``, enough for first_difference."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps({"rootfs": {"diff_ids": []}}).encode()

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    manifest = {"config": {"digest": put(config)}, "layers": [{"digest": put(layer)}]}
    manifest_digest = put(json.dumps(manifest).encode())
    (root / "index.json").write_text(json.dumps({"manifests": [{"digest": manifest_digest}]}))
    return root


def test_a_difference_is_reported_with_its_layer_and_file(tmp_path):
    a = _layout(tmp_path / "a", {"app/x.py": b"same", "app/y.pyc": b"one"})
    b = _layout(tmp_path / "b", {"app/x.py": b"same", "app/y.pyc": b"two!"})
    difference = reproducible.first_difference(a, b)
    assert difference.startswith("layer 0: first differing file ('app/y.pyc', 3")
    assert "('app/y.pyc', 4" in difference
