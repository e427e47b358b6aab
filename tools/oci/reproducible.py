"""Are the images bit-for-bit reproducible? Build each twice from scratch and compare.

Each build runs ``python -m tools build`` in its own process with its own empty build dir, under a
different TZ, umask and PYTHONHASHSEED, so nothing but the sources and the downloads (the pinned
.debs, checked by sha256) is shared. Equal digests are the claim; on a mismatch the report names
the first layer that differs and the first file in it (path, size, mode, content hash), which is
where the non-determinism lives.

    python -m tools.oci.reproducible [LABEL ...]     (default: every image this builder can build)
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tools.bazel.build_file import read_targets
from tools.labels import Label
from tools.oci.cache import seed_downloads
from tools.oci.layout import read_manifest
from tools.paths import REPO_ROOT, build_dir

# Two builds that differ in everything a build must not depend on.
CONDITIONS = (
    {"TZ": "UTC", "PYTHONHASHSEED": "1", "umask": "022"},
    {"TZ": "Pacific/Kiritimati", "PYTHONHASHSEED": "4242", "umask": "077"},
)


def buildable_images(root: Path = REPO_ROOT) -> list[Label]:
    """Every ``py_image`` under runtimes/ and models/ whose base chain ends in the pinned Debian
    base (images on a base pulled by digest, e.g. TF Serving's, are built by Bazel only)."""
    images: dict[Label, str] = {}
    for build_file in sorted([*root.glob("runtimes/*/BUILD.bazel"), *root.glob("models/*/BUILD.bazel")]):
        package = build_file.parent.relative_to(root).as_posix()
        for target in read_targets(package, root=root).values():
            if target.kind == "py_image":
                base = target.attrs["base"]
                if not base.startswith("@"):
                    base = str(Label.parse(base, package=package))
                images[target.label] = base

    def local(label: Label) -> bool:
        base = images.get(label)
        if base is None or base.startswith("@"):  # pulled by digest: Bazel only
            return False
        return base.startswith("//third_party/debian") or local(Label.parse(base))

    return [label for label in images if local(label)]


def build(labels: list[Label], build_dir: Path, condition: dict[str, str]) -> dict[str, str]:
    """Builds ``labels`` into ``build_dir`` under ``condition``; label -> digest."""
    seed_downloads(build_dir)
    env = {**os.environ, "CF_BUILD_DIR": str(build_dir), "TZ": condition["TZ"]}
    env["PYTHONHASHSEED"] = condition["PYTHONHASHSEED"]
    command = [sys.executable, "-m", "tools", "build", *map(str, labels)]
    result = subprocess.run(
        ["sh", "-c", f'umask {condition["umask"]} && exec "$@"', "sh", *command],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"build in {build_dir} failed:\n{result.stderr[-3000:]}")
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if line.startswith("//"))


def _members(blob: Path) -> list[tuple[str, int, int, str]]:
    with gzip.open(blob) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        found = []
        for member in tar:
            data = tar.extractfile(member).read() if member.isfile() else member.linkname.encode()
            found.append((member.name, member.size, member.mode, hashlib.sha256(data).hexdigest()))
        return found


def first_difference(layout_a: Path, layout_b: Path) -> str:
    """Where two layouts of the same image first differ: the config, or a layer and a file in it."""
    _, manifest_a, config_a = read_manifest(layout_a)
    _, manifest_b, config_b = read_manifest(layout_b)
    if manifest_a["config"]["digest"] != manifest_b["config"]["digest"]:
        keys = sorted(k for k in {*config_a, *config_b} if config_a.get(k) != config_b.get(k))
        if keys != ["rootfs"]:
            return f"the image config differs in {keys}"
    for index, (a, b) in enumerate(zip(manifest_a["layers"], manifest_b["layers"], strict=False)):
        if a["digest"] == b["digest"]:
            continue
        members_a = _members(layout_a / "blobs/sha256" / a["digest"][7:])
        members_b = _members(layout_b / "blobs/sha256" / b["digest"][7:])
        for member_a, member_b in zip(members_a, members_b, strict=False):
            if member_a != member_b:
                return f"layer {index}: first differing file {member_a} vs {member_b}"
        if len(members_a) != len(members_b):
            return f"layer {index}: {len(members_a)} vs {len(members_b)} files"
        return f"layer {index}: same files, different tar or gzip bytes"
    return "the layer lists differ in length"


@dataclass
class Verdict:
    label: Label
    digests: tuple[str, str]
    difference: str | None  # None when reproducible


def check(labels: list[Label], scratch: Path) -> list[Verdict]:
    """Builds ``labels`` twice (concurrently, one process each) and compares every image."""
    dirs = [scratch / f"build{i}" for i in range(len(CONDITIONS))]
    with ThreadPoolExecutor(len(CONDITIONS)) as pool:
        results = list(pool.map(build, [labels] * len(CONDITIONS), dirs, CONDITIONS))
    verdicts = []
    for label in labels:
        digests = (results[0][str(label)], results[1][str(label)])
        difference = None
        if digests[0] != digests[1]:
            layouts = [d / "images" / label.package / label.name for d in dirs]
            difference = first_difference(*layouts)
        verdicts.append(Verdict(label, digests, difference))
    return verdicts


def main(argv: list[str]) -> int:
    labels = [Label.parse(a) for a in argv] or buildable_images()
    # Under the build dir, not /tmp: two builds of every image do not belong on a tmpfs.
    build_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reproducible-", dir=build_dir()) as scratch:
        verdicts = check(labels, Path(scratch))
    for verdict in verdicts:
        state = "reproducible" if verdict.difference is None else f"DIFFERS: {verdict.difference}"
        print(f"{verdict.label} {verdict.digests[0]} {state}")
    return 0 if all(v.difference is None for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
