"""image_layer: one image layer (or the labels file) made by `python -m tools.oci.layer_main`.

The action runs the same fill functions and tar writer as `python -m tools build`
(tools/oci/layers.py, tools/oci/tarball.py), so the Bazel image's layers hold the same paths,
modes and owners as the CLI's. `layer_command` below is the one place the command line is
written; tools/oci/tests/test_bazel_layers.py runs the same command lines (built from the same
attributes) and compares the result with the CLI builder's layers.
"""

_DOC = """One gzip layer for oci_image(tars = ...), or with kind = "labels" rules_oci's labels file.

kind = "pip": the hash lock installed for the image's platform (network: tag requires-network);
"artifacts": a model_artifacts directory at `destination`, minus `exclude`; "files": single files
at image paths; "app": the main-repo files of `deps` (sources and data) under /app at their repo
paths, like the CLI's app layer; "labels": `labels`, plus the commit from stable-status.txt when
stamping; "debian": the .debs of one lock layer (`debs`, a filegroup of @debian_bookworm) unpacked
and trimmed by the CLI builder's tools/oci/debian.py fill_layer (needs `dpkg-deb` on the host).
"""

KINDS = ["app", "artifacts", "debian", "files", "labels", "pip"]

_ATTRS = {
    "deps": attr.label_list(
        doc = "kind = app: py_library/filegroup targets whose main-repo runfiles form the layer.",
    ),
    "debian_layer": attr.string(doc = "kind = debian: the lock layer's name (`base` also gets /etc/passwd, /tmp)."),
    "debs": attr.label(doc = "kind = debian: the lock layer's .debs, in lock order (`@debian_bookworm//:base`)."),
    "destination": attr.string(doc = "kind = artifacts: absolute image directory, e.g. /models/yolo."),
    "exclude": attr.string_list(doc = "kind = artifacts: glob patterns of files to leave out (`*.pt`)."),
    "files": attr.label_keyed_string_dict(
        doc = "kind = files: each single-file label mapped to its absolute image path.",
        allow_files = True,
    ),
    "kind": attr.string(doc = "What the layer holds (see the rule's doc).", mandatory = True, values = KINDS),
    "labels": attr.string_dict(doc = "kind = labels: OCI labels, name -> value."),
    "lock": attr.label(doc = "kind = pip: the hash-locked requirements file.", allow_single_file = True),
    "source": attr.label(doc = "kind = artifacts: the model_artifacts target (one directory).", allow_single_file = True),
    "stamp": attr.int(
        doc = "kind = labels: 1 adds the commit from stable-status.txt, 0 does not (the macro selects on --stamp).",
        default = 0,
        values = [0, 1],
    ),
    "_tool": attr.label(
        default = Label("//tools/oci:layer_main"),
        executable = True,
        cfg = "exec",
    ),
}

def _main_repo_files(targets):
    files = []
    for target in targets:
        runfiles = target[DefaultInfo].default_runfiles
        for f in (runfiles.files.to_list() if runfiles else []) + target[DefaultInfo].files.to_list():
            # External repos (the pip hubs) have short paths starting with "../": the pip layer has them.
            if not f.short_path.startswith("../") and f not in files:
                files.append(f)
    return files

def layer_command(ctx, out):
    """The command line of layer_main for this target (tools/oci/tests/test_bazel_layers.py runs it).

    Args:
        ctx: the image_layer rule's context.
        out: the File the action writes.

    Returns:
        (arguments, inputs): layer_main's argv after the program, and the files it reads.
    """

    # The app layer is a files layer whose list comes from the deps' runfiles.
    args = ["--out", out.path, "files" if ctx.attr.kind == "app" else ctx.attr.kind]
    inputs = []
    if ctx.attr.kind == "pip":
        args += ["--lock", ctx.file.lock.path]
        inputs.append(ctx.file.lock)
    elif ctx.attr.kind == "artifacts":
        args += ["--destination", ctx.attr.destination, "--source", ctx.file.source.path]
        for pattern in ctx.attr.exclude:
            args += ["--exclude", pattern]
        inputs.append(ctx.file.source)
    elif ctx.attr.kind == "debian":
        args += ["--layer", ctx.attr.debian_layer]
        for f in ctx.attr.debs[DefaultInfo].files.to_list():
            args += ["--deb", f.path]
            inputs.append(f)
    elif ctx.attr.kind == "files":
        for target, destination in ctx.attr.files.items():
            (f,) = target[DefaultInfo].files.to_list()
            args += ["--file", destination + "=" + f.path]
            inputs.append(f)
    elif ctx.attr.kind == "app":
        for f in _main_repo_files(ctx.attr.deps):
            args += ["--file", "/app/" + f.short_path + "=" + f.path]
            inputs.append(f)
    elif ctx.attr.kind == "labels":
        for name in sorted(ctx.attr.labels.keys()):
            args += ["--label", name + "=" + ctx.attr.labels[name]]
        if ctx.attr.stamp == 1:
            # stable-status.txt: STABLE_GIT_COMMIT and STABLE_GIT_TREE_STATE (tools/workspace_status.sh).
            args += ["--stable-status", ctx.info_file.path]
            inputs.append(ctx.info_file)
    return args, inputs

def _image_layer_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + (".txt" if ctx.attr.kind == "labels" else ".tar.gz"))
    args, inputs = layer_command(ctx, out)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = args,
        inputs = inputs,
        outputs = [out],
        mnemonic = "ImageLayer",
        progress_message = "Building image layer %{label} (" + ctx.attr.kind + ")",
        env = {"PYTHONHASHSEED": "0"},
    )
    return [DefaultInfo(files = depset([out]))]

image_layer = rule(
    implementation = _image_layer_impl,
    doc = _DOC,
    attrs = _ATTRS,
)
