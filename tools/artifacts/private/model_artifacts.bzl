"""model_artifacts: a model's weights / exported model as one Bazel tree artifact.

The same BUILD call is read by `python -m tools artifacts` (tools/artifacts/__init__.py), which
runs the module's `build(out_dir)` outside Bazel with a content-addressed cache. Under Bazel the
action cache plays that role: the directory is rebuilt only when the module, its `srcs` or its
`deps` change.
"""

load("@rules_python//python:defs.bzl", "py_binary")

_DOC = """Runs `<module>.build(out_dir)` in a build action and outputs `out_dir` as a directory.

The module must be importable from the repo root (`models.yolo.artifacts`) and reachable through
`deps`; every file it reads besides its own source (its `SOURCES`) must be listed in `srcs`, or
the sandbox hides it and the cache would not notice it change.
"""

_ATTRS = {
    "builder": attr.label(
        doc = "py_binary that imports the module and calls build(out_dir); made by the macro.",
        mandatory = True,
        executable = True,
        cfg = "exec",
    ),
    "module": attr.string(
        doc = "Dotted name of the Python module with `build(out_dir: pathlib.Path) -> None`.",
        mandatory = True,
    ),
    "srcs": attr.label_list(
        doc = "Input files the module reads (its SOURCES): declared so changes rebuild the artifacts.",
        allow_files = True,
    ),
}

def _model_artifacts_impl(ctx):
    out_dir = ctx.actions.declare_directory(ctx.label.name)
    args = ctx.actions.args()
    args.add("--module", ctx.attr.module)
    args.add("--out", out_dir.path)
    for src in ctx.attr.srcs:
        for f in src[DefaultInfo].files.to_list():
            if f.is_directory and src.label.workspace_name == "":
                # Another model_artifacts (//models/yolo:weights): the module's build_artifacts()
                # gets this directory instead of building it again inside the action.
                args.add("--prebuilt", "//%s:%s=%s" % (src.label.package, src.label.name, f.path))
    ctx.actions.run(
        # files_to_run, not the bare file: the action then also gets the builder's runfiles
        # (interpreter, the module and its pip deps).
        executable = ctx.attr.builder[DefaultInfo].files_to_run,
        arguments = [args],
        inputs = ctx.files.srcs,
        outputs = [out_dir],
        mnemonic = "ModelArtifacts",
        progress_message = "Building model artifacts %{label} with " + ctx.attr.module,
        # Exports seed their RNGs and write no timestamps; the env keeps thread pools and HOME-based
        # caches (ultralytics, huggingface) from leaking host state into the output.
        env = {
            "HF_HUB_OFFLINE": "1",
            "PYTHONHASHSEED": "0",
            "YOLO_OFFLINE": "1",
        },
    )
    return [DefaultInfo(files = depset([out_dir]))]

model_artifacts_rule = rule(
    implementation = _model_artifacts_impl,
    doc = _DOC,
    attrs = _ATTRS,
)

def model_artifacts(name, module, srcs = [], deps = [], **kwargs):
    """A directory of model artifacts produced by `<module>.build(out_dir)`.

    Makes `:<name>` (the directory, usable in `py_image(artifacts = ...)`) and the internal
    `:<name>_builder` py_binary that runs the module.

    Args:
        name: target name; also the output directory's name.
        module: dotted module name, e.g. "models.yolo.artifacts".
        srcs: files the module reads besides its own source (its SOURCES list).
        deps: py_library targets (and pip hub packages) the module imports.
        **kwargs: common attributes (visibility, tags, testonly) for the artifacts target.
    """
    builder = name + "_builder"
    py_binary(
        name = builder,
        srcs = [Label("//tools/bazel:artifacts_main.py")],
        main = Label("//tools/bazel:artifacts_main.py"),
        deps = deps,
        tags = ["manual"],
        visibility = ["//visibility:private"],
    )
    model_artifacts_rule(
        name = name,
        builder = ":" + builder,
        module = module,
        srcs = srcs,
        **kwargs
    )
