"""The local Python base: layers assembled from pinned Debian .debs, no container engine.

``debian_base(name = "python311", lock = "packages.lock.json")`` in ``third_party/debian`` names
it. Each lock layer ("base": shared libraries, "interpreter": python3.11) becomes one image layer:
the .debs are fetched with ``apt-get download PKG=VERSION``, checked against the lock's sha256
(Debian's own metadata), unpacked with ``dpkg-deb -x`` (no maintainer scripts run), trimmed of
docs, man pages, locales and the stdlib parts a server never imports, and the stdlib is compiled
to hash-checked .pyc (the root filesystem is read-only at run time, so Python could not cache them).
The base layer also gets what an image needs but no .deb of this set provides: /etc/passwd and
/etc/group with ``nonroot`` (65532), /etc/nsswitch.conf, /tmp and /var/tmp with mode 1777.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tools.errors import UserError
from tools.hashing import file_sha256
from tools.oci import cache, layers
from tools.paths import cache_dir

# Paths removed from every unpacked .deb (relative to /): nothing at run time reads them.
TRIM = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/bug",
    "usr/share/gdb",
    "usr/lib/x86_64-linux-gnu/gconv",
    "usr/lib/python3.11/test",
    "usr/lib/python3.11/idlelib",
    "usr/lib/python3.11/tkinter",
    "usr/lib/python3.11/turtledemo",
    "usr/lib/python3.11/ensurepip",
    "usr/lib/python3.11/lib2to3",
    "usr/lib/python3.11/pydoc_data",
    "usr/lib/python3.11/distutils/tests",
    "usr/lib/python3.11/unittest/test",
)
NONROOT_UID = 65532
_PASSWD = f"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:{NONROOT_UID}:{NONROOT_UID}:nonroot:/home/nonroot:/sbin/nologin\n"  # noqa: E501
_GROUP = f"root:x:0:\nnogroup:x:65534:\nnonroot:x:{NONROOT_UID}:\n"
_NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n"  # noqa: E501
# The base's environment, like distroless: PATH, a UTF-8 locale that needs no locale files.
# In debian_base.bzl's order (sorted keys), which rules_oci's config keeps (test_bazel_layers.py).
BASE_ENV = {"LANG": "C.UTF-8", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def load_lock(lock_path: Path) -> dict:
    try:
        lock = json.loads(lock_path.read_text())
    except FileNotFoundError:
        raise UserError("lock file not found (run python -m tools.oci.debian_lock)", file=lock_path) from None
    except json.JSONDecodeError as error:
        raise UserError(f"invalid JSON: {error.msg}", file=lock_path, field=f"line {error.lineno}") from None
    if not isinstance(lock.get("layers"), dict) or not lock["layers"]:
        raise UserError("no layers in the lock", file=lock_path, field="layers")
    return lock


def fetch_deb(pkg: dict, lock_path: Path) -> Path:
    """The verified .deb for one lock entry, downloaded once into the cache."""
    debs = cache_dir() / "debs"
    target = debs / f"{pkg['sha256']}.deb"
    if target.exists():
        return target
    debs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=debs) as tmp:
        spec = f"{pkg['name']}:{pkg['architecture']}={pkg['version']}"
        if pkg["architecture"] == "all":
            spec = f"{pkg['name']}={pkg['version']}"
        result = subprocess.run(["apt-get", "download", spec], cwd=tmp, capture_output=True, text=True)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(
                f"apt-get download {spec} failed ({reason}); run apt-get update, or regenerate the lock "
                "with python -m tools.oci.debian_lock if Debian dropped this version",
                file=lock_path,
                field=pkg["name"],
            )
        (downloaded,) = Path(tmp).glob("*.deb")
        actual = file_sha256(downloaded)
        if actual != pkg["sha256"]:
            raise UserError(
                f"sha256 mismatch: got {actual}, lock says {pkg['sha256']}", file=lock_path, field=pkg["name"]
            )
        os.replace(downloaded, target)
    return target


def _trim(root: Path) -> None:
    for rel in TRIM:
        shutil.rmtree(root / rel, ignore_errors=True)
    for pycache in list(root.rglob("__pycache__")):
        shutil.rmtree(pycache)


def _add_system_files(root: Path) -> None:
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(_PASSWD)
    (etc / "group").write_text(_GROUP)
    (etc / "nsswitch.conf").write_text(_NSSWITCH)
    for tmp_dir in ("tmp", "var/tmp"):
        (root / tmp_dir).mkdir(parents=True, exist_ok=True)
        (root / tmp_dir).chmod(0o1777)
    (root / "home" / "nonroot").mkdir(parents=True, exist_ok=True)


def _finish_interpreter(root: Path) -> None:
    bindir = root / "usr" / "bin"
    if (bindir / "python3.11").exists() and not (bindir / "python3").exists():
        (bindir / "python3").symlink_to("python3.11")
    stdlib = root / "usr" / "lib" / "python3.11"
    if stdlib.is_dir():
        # ddir makes the recorded source path /usr/lib/python3.11, not this temporary directory;
        # unchecked-hash pycs do not embed mtimes; one fresh process (layers.compile_pycs) so the
        # bytes do not depend on what the calling process imported (the CLI runs this inside
        # pytest or servectl, Bazel's action inside layer_main: marshal back-references differ).
        layers.compile_pycs(stdlib, ddir="/usr/lib/python3.11", skip_tests=False)


def fill_layer(root: Path, layer_name: str, debs: list[Path]) -> None:
    """One lock layer's files under ``root``: the .debs unpacked in order, trimmed, finished.

    The CLI builder (``base_layers``) and Bazel's ``debian_base`` action (``python -m
    tools.oci.layer_main debian``, on the .debs @debian_bookworm downloaded) both call this, so the
    two bases have the same files."""
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    _trim(root)
    if layer_name == "base":
        _add_system_files(root)
    _finish_interpreter(root)


def _inputs_hash() -> str:
    here = Path(__file__).parent
    return cache.input_key(*((here / f).read_text() for f in ("debian.py", "layers.py", "tarball.py")))


def select_layers(lock_path: Path, names: list[str] | None) -> list[tuple[str, list[dict]]]:
    """The lock layers a base uses, in the base's order (all of them when ``names`` is None)."""
    lock = load_lock(lock_path)
    if names is None:
        return list(lock["layers"].items())
    unknown = [n for n in names if n not in lock["layers"]]
    if unknown:
        raise UserError(
            f"no layer {unknown[0]!r} in the lock (has: {', '.join(lock['layers'])})",
            file=lock_path,
            field="layers",
        )
    return [(name, lock["layers"][name]) for name in names]


def base_layers(lock_path: Path, progress, names: list[str] | None = None) -> tuple[list, dict]:
    """Builds (or reuses) one image layer per selected lock layer; returns (layers, base env)."""
    built = []
    code = _inputs_hash()
    for layer_name, packages in select_layers(lock_path, names):
        key = cache.input_key("debian", layer_name, packages, code)
        with progress.step(f"debian {layer_name}") as step:
            blob = cache.cached_layer(key)
            if blob is None:
                with tempfile.TemporaryDirectory(prefix="servectl-rootfs-") as tmp:
                    root = Path(tmp)
                    fill_layer(root, layer_name, [fetch_deb(pkg, lock_path) for pkg in packages])
                    blob = cache.store_layer(key, root)
                step["status"] = "built"
            else:
                step["status"] = "cached"
            step["bytes"] = blob.size
        built.append((f"debian {layer_name}: " + " ".join(p["name"] for p in packages), blob))
    return built, dict(BASE_ENV)
