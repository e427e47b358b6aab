"""The action behind Bazel's ``model_artifacts`` rule: ``artifacts_main --module M --out DIR``.

Imports ``M`` and calls ``M.build(DIR)``, the same contract ``python -m tools artifacts`` uses
(tools/artifacts/__init__.py), minus the cache: under Bazel the action cache decides when to rerun.
Kept free of the rest of ``tools`` (no starlark, no YAML) so the wrapper adds nothing to the action's
inputs beyond the module and its deps.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from pathlib import Path


def run(module_name: str, out_dir: Path, prebuilt: list[str] = ()) -> int:
    # A module may cache downloads under tools.paths.build_dir(), which is <repo>/.build: inside a
    # Bazel action that resolves into the read-only source tree. The action's own temp dir instead.
    os.environ.setdefault("CF_BUILD_DIR", tempfile.mkdtemp(prefix="artifacts-build-"))
    # Other model_artifacts this one reads, as Bazel built them (tools/artifacts: PREBUILT_ENV).
    given = {}
    for item in prebuilt:
        label, sep, path = item.partition("=")
        if not sep or not label.startswith("//") or not Path(path).is_dir():
            print(f"error: --prebuilt {item!r}: expected //package:name=DIRECTORY", file=sys.stderr)
            return 2
        given[label] = str(Path(path).resolve())
    if given:
        os.environ["CF_PREBUILT_ARTIFACTS"] = json.dumps(given)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        print(f"error: {module_name}: cannot import ({error}); is it in the target's deps?", file=sys.stderr)
        return 2
    build = getattr(module, "build", None)
    if not callable(build):
        print(f"error: {module_name}: has no build(out_dir) function", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    build(out_dir)
    if not any(out_dir.iterdir()):
        print(f"error: {module_name}.build() wrote nothing into {out_dir}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", required=True, help="dotted module name with build(out_dir)")
    parser.add_argument("--out", required=True, type=Path, help="directory to fill")
    parser.add_argument(
        "--prebuilt", action="append", default=[], help="LABEL=DIR: another model_artifacts Bazel built"
    )
    args = parser.parse_args(argv)
    return run(args.module, args.out, args.prebuilt)


if __name__ == "__main__":
    sys.exit(main())
