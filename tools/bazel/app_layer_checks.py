"""The app layer Bazel builds holds the files the CLI's does.

py_image's app layer (`image_layer(kind = "app")`, tools/oci/private/layer.bzl) is the main-repo
runfiles of its deps, and nothing else: Bazel hands an action only the files its inputs declare.
The CLI's app layer (tools/oci/builder.py collect_sources) is the same files plus the
`__init__.py` of every package above each .py file, so that `models` and `runtimes` are regular
packages in the image as in the repo (a namespace `runtimes` lets runtimes/fastapi shadow the
fastapi distribution). A parent `__init__.py` no dep declares is therefore a file the Bazel image
lacks: the layers, and the image digests, differ. This check asks the CLI's own function which
`__init__.py` the CLI adds and reports each one no dep of the layer brings.
"""

from __future__ import annotations

from tools.bazel.packages import Problem
from tools.bazel.test_data_checks import runfiles
from tools.oci.builder import package_inits


def check_app_layers(workspace) -> list[Problem]:
    problems = []
    for name, package in sorted(workspace.packages.items()):
        build = str(package.build_file.relative_to(workspace.root))
        for target in package.targets.values():
            if target.kind != "image_layer" or target.attrs.get("kind") != "app":
                continue
            if target.name != target.attrs.get("name"):
                continue  # a derived target (its output file): the layer itself is checked once
            files, _ = runfiles(workspace, name, target.attrs.get("deps") or [])
            paths = {workspace.root / f for f in files}
            for init in sorted(package_inits(paths, workspace.root) - paths):
                rel = init.relative_to(workspace.root).as_posix()
                problems.append(
                    Problem(
                        build,
                        f"the app layer lacks {rel}, which the CLI's image has (the __init__.py of "
                        "every package above a .py file): add a py_library holding it to a dep",
                        target.name,
                        "deps",
                    )
                )
    return problems
