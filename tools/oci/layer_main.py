"""One image layer as a file: the action behind Bazel's ``py_image`` (tools/oci/private/layer.bzl).

    python -m tools.oci.layer_main --out L.tar.gz pip --lock requirements_fastapi.lock
    python -m tools.oci.layer_main --out L.tar.gz artifacts --destination /models/yolo \\
        --source bazel-out/.../weights --exclude '*.pt'
    python -m tools.oci.layer_main --out L.tar.gz files --file /app/runtimes/fastapi/app.py=SRC ...
    python -m tools.oci.layer_main --out labels.txt labels --label K=V ... [--stable-status F]
    python -m tools.oci.layer_main --out L.tar.gz debian --layer base --deb libc6.deb ...

The same fill functions and tar writer ``python -m tools build`` uses (tools/oci/layers.py,
tools/oci/tarball.py), so a layer built by Bazel holds the same paths, modes and owners as the CLI's;
only the cache is left out (Bazel's action cache plays that role).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tools.errors import UserError
from tools.oci import debian, layers
from tools.oci.tarball import write_layer

# Stamp keys (tools/workspace_status.sh, in Bazel's stable-status.txt) and what each becomes.
REVISION_KEY = "STABLE_GIT_COMMIT"
TREE_STATE_KEY = "STABLE_GIT_TREE_STATE"
STAMP_KEYS = (REVISION_KEY, TREE_STATE_KEY)


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise UserError(f"{flag} {value!r}: expected KEY=VALUE")
        pairs[key] = rest
    return pairs


def read_status(path: Path) -> dict[str, str]:
    """Bazel's stable-status.txt: one ``KEY value`` per line."""
    status = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(" ")
        if key:
            status[key] = value
    return status


def stamped_labels(labels: dict[str, str], status: dict[str, str] | None) -> dict[str, str]:
    """The image's labels; with a status file, ``org.opencontainers.image.revision`` is the commit
    (``-dirty`` when the tree had uncommitted changes), as the CLI's ``--stamp`` records it."""
    result = dict(labels)
    if status is not None:
        commit = status.get(REVISION_KEY, "unknown")
        if status.get(TREE_STATE_KEY) == "dirty":
            commit += "-dirty"
        result.setdefault("org.opencontainers.image.revision", commit)
    return result


def build(args: argparse.Namespace) -> None:
    out = Path(args.out)
    if args.kind == "labels":
        status = read_status(Path(args.stable_status)) if args.stable_status else None
        labels = stamped_labels(_pairs(args.label, "--label"), status)
        out.write_text("".join(f"{k}={v}\n" for k, v in sorted(labels.items())), encoding="utf-8")
        return
    with tempfile.TemporaryDirectory(prefix="layer-") as tmp:
        root = Path(tmp)
        if args.kind == "pip":
            layers.fill_pip(root, Path(args.lock))
        elif args.kind == "debian":
            missing = [deb for deb in args.deb if not Path(deb).is_file()]
            if missing:
                raise UserError(f"no such file: {missing[0]}")
            debian.fill_layer(root, args.layer, [Path(deb) for deb in args.deb])
        elif args.kind == "artifacts":
            source = Path(args.source)
            if not source.is_dir():
                raise UserError("not a directory (a model_artifacts output)", file=source)
            layers.fill_artifacts(root, args.destination, source, args.exclude)
        else:
            placed = {dest: Path(src) for dest, src in _pairs(args.file, "--file").items()}
            missing = [str(p) for p in placed.values() if not p.is_file()]
            if missing:
                raise UserError(f"no such file: {missing[0]}")
            layers.fill_files(root, placed)
        write_layer(root, out)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    main.add_argument("--out", required=True, help="the layer (.tar.gz) or labels file to write")
    kinds = main.add_subparsers(dest="kind", required=True)
    pip = kinds.add_parser("pip", help="the hash lock installed for the image's platform")
    pip.add_argument("--lock", required=True)
    artifacts = kinds.add_parser("artifacts", help="a model_artifacts directory at a destination")
    artifacts.add_argument("--destination", required=True, help="absolute image path, e.g. /models/yolo")
    artifacts.add_argument("--source", required=True, help="the directory Bazel built")
    artifacts.add_argument("--exclude", action="append", default=[], help="glob of files to leave out")
    files = kinds.add_parser("files", help="single files at chosen image paths")
    files.add_argument("--file", action="append", default=[], help="DEST=SRC")
    deb = kinds.add_parser("debian", help="one lock layer of the Debian base from its .debs")
    deb.add_argument("--layer", required=True, help="the lock layer's name (base adds /etc/passwd...)")
    deb.add_argument("--deb", action="append", default=[], help="a .deb, in lock order")
    labels = kinds.add_parser("labels", help="rules_oci's labels file (name=value lines)")
    labels.add_argument("--label", action="append", default=[], help="NAME=VALUE")
    labels.add_argument("--stable-status", help="Bazel's stable-status.txt when stamping")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        build(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
