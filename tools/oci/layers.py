"""The layers above the Debian base: third-party packages, model artifacts, app code.

Each function computes its layer's input key first and returns the cached blob when nothing
changed, so a rebuild after an app-only edit redoes one small tar.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.errors import UserError
from tools.oci import cache

# Debian's python3.11 puts this on sys.path (site.py), so packages need no PYTHONPATH entry.
SITE_PACKAGES = "usr/local/lib/python3.11/dist-packages"
APP_ROOT = "app"
# The image's platform, as pip's target flags: wheels are chosen for it, not for the build host.
# glibc 2.36 is bookworm's (third_party/debian/packages.lock.json: libc6 2.36-9+deb12u14). pip does
# not widen an explicit manylinux_2_X platform to older glibc tags (pip 23's
# compatibility_tags._get_custom_platforms only widens manylinux2014/2010), so every tag a glibc
# 2.36 system accepts is listed, newest first, with the PEP 600 legacy aliases (2014 = 2_17,
# 2010 = 2_12, 1 = 2_5), as packaging.tags does for the running system.
_GLIBC_MINORS = range(36, 4, -1)
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
TARGET_PLATFORM = (
    *(
        ("platform", tag)
        for minor in _GLIBC_MINORS
        for tag in (f"manylinux_2_{minor}_x86_64", f"{_LEGACY_MANYLINUX.get(minor, '')}_x86_64")
        if not tag.startswith("_")
    ),
    ("implementation", "cp"),
    ("python-version", "3.11"),
    ("abi", "cp311"),
)
_TESTS = re.compile(r"[/\\]tests?[/\\]")
_CODE = cache.input_key(*(Path(__file__).parent.joinpath(f).read_text() for f in ("layers.py", "tarball.py")))


def tree_key(root: Path) -> str:
    """sha256 over every relative path, mode bit and content under ``root``."""
    sha = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            sha.update(f"{path.relative_to(root).as_posix()}\0{os.access(path, os.X_OK)}\0".encode())
            sha.update(path.read_bytes())
    return sha.hexdigest()


def _cached_or_build(key: str, step, build) -> cache.LayerBlob:
    blob = cache.cached_layer(key)
    if blob is not None:
        step["status"] = "cached"
    else:
        with tempfile.TemporaryDirectory(prefix="servectl-layer-") as tmp:
            build(Path(tmp))
            blob = cache.store_layer(key, Path(tmp))
        step["status"] = "built"
    step["bytes"] = blob.size
    return blob


def compile_pycs(root: Path, *, ddir: str, skip_tests: bool = True) -> None:
    """Writes unchecked-hash .pyc files for ``root`` (test directories are left uncompiled unless
    ``skip_tests`` is False: the Debian stdlib, whose test packages are trimmed beforehand).

    Unchecked-hash pycs carry no mtimes, and the root fs is read-only at run time, so Python could
    not write them there. The bytes must not depend on the build: marshal marks an object for
    back-reference only when its refcount is above one, so a pyc depends on what else the compiling
    process holds. compileall's worker pool hands files to processes in whatever order they free
    up, which made two clean builds of torch differ (optimizer.pyc, 61330 vs 61320 bytes). One
    fresh process, sorted order and a fixed hash seed make the process state a function of the
    file set alone.
    """
    # A file that does not compile (templates, other Pythons' code in some wheels) stays source
    # only, as compileall leaves it; anything else failing is an error.
    script = (
        "import compileall, py_compile, re, sys; compileall.compile_dir(sys.argv[1], ddir=sys.argv[2],"
        " quiet=2, workers=1, rx=re.compile(sys.argv[3]) if sys.argv[3] else None,"
        " invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)"
    )
    command = [sys.executable, "-c", script, str(root), ddir, _TESTS.pattern if skip_tests else ""]
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        tail = " | ".join((result.stdout + result.stderr).strip().splitlines()[-3:])
        raise UserError(f"compiling the image's .pyc files failed: {tail}", file=root)


def pip_layer(lock: Path, step) -> cache.LayerBlob:
    """``pip install --require-hashes --only-binary :all: --no-deps --target`` of a hash lock."""
    if sys.version_info[:2] != (3, 11):
        raise UserError(f"the image's Python is 3.11; run the builder with Python 3.11, not {sys.version}")
    try:
        lock_text = lock.read_text()
    except FileNotFoundError:
        raise UserError("requirements lock not found", file=lock) from None
    if "--hash=sha256:" not in lock_text:
        raise UserError("not a hash-locked requirements file (no --hash=sha256: entries)", file=lock)

    # The full interpreter version, not just the cache tag: marshal output may change between
    # patch releases, and the pycs are part of this layer's bytes.
    key = cache.input_key("pip", lock_text, sys.version, TARGET_PLATFORM, _CODE)
    return _cached_or_build(key, step, lambda root: fill_pip(root, lock))


def pip_command(lock: Path, target: Path) -> list[str]:
    """The pip command of the packages layer: the lock's wheels for the image's platform (Linux
    x86_64, CPython 3.11), never the build host's, so a macOS or arm64 host packs the same files."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--require-hashes",
        "--only-binary",
        ":all:",
        *(f"--{flag}={value}" for flag, value in TARGET_PLATFORM),
        "--no-deps",
        "--no-cache-dir",
        "--no-compile",
        "--no-warn-script-location",
        "--disable-pip-version-check",
        "--quiet",
        "--target",
        str(target),
        "-r",
        str(lock),
    ]


def fill_pip(root: Path, lock: Path) -> None:
    """Installs the hash lock into ``root``/SITE_PACKAGES and compiles it: the packages layer's
    files, for the CLI builder and for Bazel's action (tools/oci/layer_main.py) alike."""
    target = root / SITE_PACKAGES
    result = subprocess.run(pip_command(lock, target), capture_output=True, text=True)
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise UserError(f"pip install of the lock failed: {tail}", file=lock)
    # Console scripts' shebangs name the build host's interpreter: useless in the image.
    shutil.rmtree(target / "bin", ignore_errors=True)
    for pycache in list(target.rglob("__pycache__")):
        shutil.rmtree(pycache)
    compile_pycs(target, ddir=f"/{SITE_PACKAGES}")


def fill_artifacts(root: Path, destination: str, source_dir: Path, exclude: list[str], sign=None) -> None:
    """Copies a model_artifacts directory to ``destination`` under ``root``, minus ``exclude``;
    ``sign(directory)`` then writes its model.sig over exactly those files (tools/supply/models.py)."""
    target = root / destination.strip("/")
    ignore = shutil.ignore_patterns(".key", "__pycache__", "model.sig", *exclude)
    shutil.copytree(source_dir, target, ignore=ignore, copy_function=shutil.copyfile)
    if sign is not None:
        sign(target)


def fill_files(root: Path, placed: dict[str, Path]) -> None:
    """Single files at chosen image paths under ``root``."""
    for destination, path in placed.items():
        target = root / destination.strip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def artifacts_layer(
    destination: str, source_dir: Path, exclude: list[str], step, sign=None
) -> cache.LayerBlob:
    """The files of a model_artifacts output under ``destination`` (e.g. /models/yolo), minus the
    glob patterns in ``exclude`` (a CPU image leaves out the torch checkpoint), signed by ``sign``
    (which has a ``fingerprint``: signatures are deterministic, so the key's identity is the input)."""
    signer = getattr(sign, "fingerprint", "unsigned")
    key = cache.input_key("artifacts", destination, sorted(exclude), tree_key(source_dir), signer, _CODE)
    return _cached_or_build(
        key, step, lambda root: fill_artifacts(root, destination, source_dir, exclude, sign)
    )


def files_layer(placed: dict[str, Path], step) -> cache.LayerBlob:
    """Single files at chosen image paths: ``{"/models/gpt2/1/model.py": <repo file>}``."""
    sha = hashlib.sha256()
    for destination, path in sorted(placed.items()):
        sha.update(f"{destination}\0{os.access(path, os.X_OK)}\0".encode())
        sha.update(path.read_bytes())

    key = cache.input_key("files", sha.hexdigest(), _CODE)
    return _cached_or_build(key, step, lambda root: fill_files(root, placed))


def app_layer(files: list[Path], repo_root: Path, step) -> cache.LayerBlob:
    """The app's own files, at their repo paths under /app (imports are rooted at the repo root)."""
    placed = {f"/{APP_ROOT}/{f.relative_to(repo_root).as_posix()}": f for f in files}
    return files_layer(placed, step)
