"""Implementation of `py_image`: one image description, expanded to rules_oci for Bazel.

The same call is read by `python -m tools build` (tools/oci/builder.py), which records it instead
of expanding it; keep the two in step (tools/oci/spec.py lists the attributes the Python side
accepts). Under Bazel every layer above the base is an `image_layer` action running
`python -m tools.oci.layer_main`, the CLI builder's own fill functions, and the image runs
`python3 -m <main's module>` on the base's Debian python3.11, as the CLI image does. Not aspect's
py_image_layer: its py_binary launcher is a `#!/usr/bin/env bash` script that creates a venv under
the runfiles at every start (aspect_rules_py v1.12.0 py/private/run.tmpl.sh: VENV_TOOL
--location "${RUNFILES_DIR}/..."), which needs a shell the distroless base lacks and a writable
root the pods do not have, and it runs python with -I (py/private/py_semantics.bzl
_INTERPRETER_FLAGS), which ignores PYTHONPATH and so PYTHON_ENV below.
"""

load("@rules_oci//oci:defs.bzl", "oci_image", "oci_push")
load(":layer.bzl", "image_layer")

# The environment every py_image adds over its base (tools/oci/builder.py PYTHON_ENV): the app is
# found under /app, and no .pyc writes on a read-only root file system.
PYTHON_ENV = {
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONPATH": "/app",
    "PYTHONUNBUFFERED": "1",
}

# Where the push targets go when `repository` is not given: the registry comes from the command
# line (`bazel run :image.push -- --repository ...`), the path mirrors tools.labels.image_repository.
DEFAULT_REGISTRY = "127.0.0.1:5000"

def _main_module(main):
    """The module `python3 -m` runs for `main`, as tools/oci/builder.py main_module computes it.

    `//runtimes/fastapi:__main__.py` -> `runtimes.fastapi`; `launcher.py` in runtimes/triton ->
    `runtimes.triton.launcher`.
    """
    if main.startswith("//"):
        package, _, file = main[2:].partition(":")
    else:
        package, file = native.package_name(), main.lstrip(":")
    parts = (package + "/" + file[:-len(".py")]).split("/")
    if parts[-1] == "__main__":
        parts = parts[:-1]
    return ".".join(parts)

def py_image(
        name,
        base,
        srcs = [],
        deps = [],
        main = None,
        requirements = None,
        artifacts = {},
        artifacts_exclude = [],
        files = {},
        entrypoint = [],
        cmd = [],
        env = {},
        exposed_ports = [],
        user = "65532:65532",
        workdir = "/app",
        labels = {},
        repository = None,
        tags = [],
        visibility = None):
    """A Python service image: base, interpreter, third-party packages, model artifacts, app code.

    Makes `<name>` (oci_image, with rules_oci's `<name>.digest`) and `<name>.push` (oci_push).
    Layers are ordered by how often they change, so an app-only change re-pushes one small layer.
    Internal targets get a `_` suffix and the `manual` tag.

    Args:
        name: the image target's name (`image` by convention).
        base: the image underneath: `//third_party/debian:python311` (the local Debian python base;
            under Bazel an alias of the upstream python base pinned by digest), another `py_image`
            (a model image on its runtime's image), or an `oci.pull` repo such as
            `@tensorflow_serving_gpu` (Bazel only).
        srcs: the app's Python files, filegroups or py_library targets; shipped under /app at their
            repo paths (imports are rooted at the repo root).
        deps: py_library targets the app needs: their main-repo sources and data go to /app; their
            `@pypi_*` wheels do not (the `requirements` lock is the image's third-party layer).
        main: the file the image runs (`//runtimes/fastapi:__main__.py`) as `python3 -m <module>`
            on the base's python3.11, under Bazel and the CLI alike. Without it the image keeps
            its base's entrypoint (a model image on its runtime's image).
        requirements: the hash-locked requirements file of the image's pip hub
            (`//third_party/python:requirements_fastapi.lock`), installed by the same
            `pip install --require-hashes --only-binary :all: --platform ...` for the image's
            platform (Linux x86_64, CPython 3.11) by the CLI and by the Bazel action.
        artifacts: `{"/models/yolo": "//models/yolo:weights"}`: model_artifacts outputs and the
            directory their files land in, one layer each.
        artifacts_exclude: glob patterns of artifact files to leave out (`["*.pt"]`), by the
            same function under Bazel and the CLI (tools/oci/layers.py fill_artifacts).
        files: `{"/models/gpt2/1/model.py": "model_repository/gpt2/1/model.py"}`: single source
            files placed at chosen image paths, in one layer after the artifacts.
        entrypoint: the command, when it is not `main` (e.g. `tensorflow_model_server`); empty
            inherits the base's.
        cmd: default arguments after the entrypoint.
        env: environment variables, merged over the base's and PYTHON_ENV.
        exposed_ports: `["8000/tcp"]`.
        user: numeric `UID:GID`, never root (Kubernetes runAsNonRoot checks it without /etc/passwd).
        workdir: the working directory.
        labels: OCI labels (`org.opencontainers.image.version`, `.source`, ...); with `--stamp`
            (`--config=release`) `.revision` is the git commit (STABLE_GIT_COMMIT), under Bazel
            and the CLI alike.
        repository: where `<name>.push` pushes; default `<DEFAULT_REGISTRY>/<package>/<name>`.
        tags: tags for the image and push targets.
        visibility: visibility of the image and push targets.
    """
    internal = {"tags": tags + ["manual"], "visibility": ["//visibility:private"]}

    tars = []
    if requirements:
        # pip downloads the locked wheels (sha256-checked) inside the action.
        image_layer(
            name = name + "_packages",
            kind = "pip",
            lock = requirements,
            **dict(internal, tags = internal["tags"] + ["requires-network"])
        )
        tars.append(name + "_packages")
    for index, destination in enumerate(sorted(artifacts.keys())):
        image_layer(
            name = "%s_artifacts_%d" % (name, index),
            kind = "artifacts",
            destination = destination,
            exclude = artifacts_exclude,
            source = artifacts[destination],
            **internal
        )
        tars.append("%s_artifacts_%d" % (name, index))
    if files:
        image_layer(
            name = name + "_files",
            kind = "files",
            files = {files[destination]: destination for destination in files},
            **internal
        )
        tars.append(name + "_files")
    if main or srcs or deps:
        image_layer(
            name = name + "_app",
            kind = "app",
            deps = srcs + deps + ([main] if main else []),
            **internal
        )
        tars.append(name + "_app")
    if main and not entrypoint:
        entrypoint = ["python3", "-m", _main_module(main)]

    image_env = dict(PYTHON_ENV)
    image_env.update(env)
    image_labels = {"org.opencontainers.image.source": "//%s:%s" % (native.package_name(), name)}
    image_labels.update(labels)
    image_layer(
        name = name + "_labels",
        kind = "labels",
        labels = image_labels,
        stamp = select({
            Label("//tools/oci/private:stamp_detect"): 1,
            "//conditions:default": 0,
        }),
        **internal
    )
    oci_image(
        name = name,
        base = base,
        tars = tars,
        entrypoint = entrypoint or None,
        cmd = cmd or None,
        env = image_env,
        exposed_ports = exposed_ports or None,
        user = user,
        workdir = workdir,
        labels = ":" + name + "_labels",
        tags = tags,
        visibility = visibility,
    )
    oci_push(
        name = name + ".push",
        image = ":" + name,
        repository = repository or "%s/%s/%s" % (DEFAULT_REGISTRY, native.package_name(), name),
        tags = tags,
        visibility = visibility,
    )
