"""Implementation of `py_image`: one image description, expanded to rules_oci for Bazel.

The same call is read by `python -m tools build` (tools/oci/builder.py), which records it instead
of expanding it and builds the layers itself; keep the two in step (tools/oci/spec.py lists the
attributes the Python side accepts).
"""

load("@aspect_rules_py//py:defs.bzl", "py_binary", "py_image_layer")
load("@rules_oci//oci:defs.bzl", "oci_image", "oci_push")
load("@rules_pkg//pkg:tar.bzl", "pkg_tar")

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

def _target_name(label):
    """`//models/yolo:weights` -> `weights`; `//a/b` -> `b`; `:x` -> `x`."""
    if ":" in label:
        return label.rsplit(":", 1)[1]
    return label.rsplit("/", 1)[-1]

def py_image(
        name,
        base,
        srcs = [],
        deps = [],
        main = None,
        requirements = None,  # @unused: read by the Python builder; Bazel gets the same pins via deps
        artifacts = {},
        artifacts_exclude = [],  # @unused: applied by the Python builder only, see Args
        files = {},
        entrypoint = [],
        cmd = [],
        env = {},
        exposed_ports = [],
        user = "65532:65532",
        workdir = "/app",
        labels = {},
        repository = None,
        layer_groups = {},
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
        deps: py_library targets the app needs; under Bazel they also bring the `@pypi_*` wheels.
        main: the file the image runs (`//runtimes/fastapi:__main__.py`). Bazel runs it through the
            py_binary launcher, a `#!/usr/bin/env bash` script (aspect_rules_py v1.12.0
            py/private/run.tmpl.sh) with the hermetic interpreter from the layers, so a Bazel base
            needs bash (distroless python has none); the Python builder runs
            `python3 -m <its module>` on the Debian python. Required when srcs or deps are given.
        requirements: the hash-locked requirements file of the image's pip hub
            (`//third_party/python:requirements_fastapi.lock`); the Python builder installs it
            with `pip install --require-hashes --only-binary :all:`, Bazel takes the same pins
            from the hub that `pip.parse` made from this lock.
        artifacts: `{"/models/yolo": "//models/yolo:weights"}`: model_artifacts outputs and the
            directory their files land in, one layer each.
        artifacts_exclude: glob patterns of artifact files to leave out (`["*.pt"]`). Applied by
            the Python builder; rules_pkg cannot filter a directory output, so under Bazel the
            artifacts target itself must produce only what the image needs.
        files: `{"/models/gpt2/1/model.py": "model_repository/gpt2/1/model.py"}`: single source
            files placed at chosen image paths, in one layer after the artifacts.
        entrypoint: the command, when it is not `main` (e.g. `tensorflow_model_server`); empty
            inherits the base's.
        cmd: default arguments after the entrypoint.
        env: environment variables, merged over the base's and PYTHON_ENV.
        exposed_ports: `["8000/tcp"]`.
        user: numeric `UID:GID`, never root (Kubernetes runAsNonRoot checks it without /etc/passwd).
        workdir: the working directory.
        labels: OCI labels (`org.opencontainers.image.version`, `.source`, ...); the Python
            builder adds `.created` and, with `--stamp`, `.revision` (the git commit).
        repository: where `<name>.push` pushes; default `<DEFAULT_REGISTRY>/<package>/<name>`.
        layer_groups: extra py_image_layer groups (`{"numpy": "pypi_.*numpy.*"}`) for big packages.
        tags: tags for the image and push targets.
        visibility: visibility of the image and push targets.
    """
    internal = {"tags": tags + ["manual"], "visibility": ["//visibility:private"]}
    if (srcs or deps) and not main:
        fail("py_image(name = %r): `main` is required when srcs or deps are given" % name)

    python_tars = []
    app_tars = []
    if main:
        py_binary(
            name = name + "_bin",
            srcs = srcs + ([] if main in srcs else [main]),
            main = main,
            deps = deps,
            **internal
        )

        # rules_py splits the binary's runfiles: `_interpreter` (hermetic python), `_packages`
        # (site-packages of the pip hub) and `_default` (our own code).
        py_image_layer(
            name = name + "_layers",
            binary = name + "_bin",
            root = workdir + "/",
            layer_groups = layer_groups,
            **internal
        )
        python_tars = [name + "_layers_interpreter", name + "_layers_packages"]
        app_tars = [name + "_layers_default"]
        if not entrypoint:
            entrypoint = ["%s/%s/%s_bin" % (workdir, native.package_name(), name)]

    artifact_tars = []
    for index, destination in enumerate(sorted(artifacts.keys())):
        artifact = artifacts[destination]
        tar_name = "%s_artifacts_%d" % (name, index)

        # A model_artifacts output is a directory; rules_pkg names it by its target name, which
        # remap_paths turns into the destination, so its files land directly in `destination`.
        pkg_tar(
            name = tar_name,
            srcs = [artifact],
            package_dir = "/",
            remap_paths = {_target_name(artifact): destination.lstrip("/")},
            mode = "0644",
            owner = "0.0",
            portable_mtime = True,
            **internal
        )
        artifact_tars.append(tar_name)

    files_tars = []
    if files:
        pkg_tar(
            name = name + "_files",
            files = {files[destination]: destination for destination in files},
            mode = "0644",
            owner = "0.0",
            portable_mtime = True,
            **internal
        )
        files_tars.append(name + "_files")

    image_env = dict(PYTHON_ENV)
    image_env.update(env)
    image_labels = {"org.opencontainers.image.source": "//%s:%s" % (native.package_name(), name)}
    image_labels.update(labels)
    oci_image(
        name = name,
        base = base,
        tars = python_tars + artifact_tars + files_tars + app_tars,
        entrypoint = entrypoint or None,
        cmd = cmd or None,
        env = image_env,
        exposed_ports = exposed_ports or None,
        user = user,
        workdir = workdir,
        labels = image_labels,
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
