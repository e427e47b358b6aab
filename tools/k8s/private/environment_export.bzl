"""environment_exports: one `bazel run //platform:export.<env>` per environment, the GitOps export.

Each target is a thin wrapper around the one CLI, the two commands `.apply` runs, for every model of
the environment at once: `python -m tools push --env <env> --layout LABEL=DIR ...` on the images
Bazel built, then `python -m tools export --env <env> --digest-file LABEL=PATH ... <args>`, so

    bazel run //platform:export.prod -- gitops/                       # writes gitops/prod/
    bazel run //platform:export.prod -- --commit-to git@host:ops.git --branch main

does what `./dev export --env prod gitops/` does, with the images Bazel built and their digests.

Which image each model runs in which environment is data (the environment's `models.<m>.gpu`
picks model.yaml's `gpu` or `cpu` image); Starlark reads neither file, so the generated
//platform:environments.bzl carries the choice as ENVIRONMENT_IMAGES (tools/bazel/environments_bzl.py,
the CLI's own schema classes). The graph check compares every export_runner with that data
(tools/bazel/variant_checks.py).
"""

load("//platform:environments.bzl", "ENVIRONMENTS", "ENVIRONMENT_IMAGES", "ENVIRONMENT_VERIFIER_IMAGES")
load(":runner_files.bzl", "CLI_RUNNER_ATTRS", "labelled_files", "runfiles_path", "shell_quote")

_ATTRS = dict(
    CLI_RUNNER_ATTRS,
    _template = attr.label(
        default = Label(":export.sh.tpl"),
        allow_single_file = True,
    ),
)

def _export_runner_impl(ctx):
    digest_files, digest_pairs = labelled_files(ctx, ctx.attr.image_digests, "digest file")
    layouts, layout_pairs = labelled_files(ctx, ctx.attr.image_layouts, "image layout")
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.expand_template(
        template = ctx.file._template,
        output = script,
        substitutions = {
            "%{CLI}%": runfiles_path(ctx, ctx.executable.cli),
            "%{DIGESTS}%": digest_pairs,
            "%{ENVIRONMENT}%": shell_quote(ctx.attr.environment),
            "%{LAYOUTS}%": layout_pairs,
        },
        is_executable = True,
    )
    runfiles = ctx.runfiles(files = digest_files + layouts + ctx.files.data + [ctx.executable.cli])
    runfiles = runfiles.merge(ctx.attr.cli[DefaultInfo].default_runfiles)
    for target in ctx.attr.data:
        runfiles = runfiles.merge(target[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

export_runner = rule(
    implementation = _export_runner_impl,
    doc = "A runnable wrapper that pushes an environment's Bazel-built images and runs `servectl export` with their digests.",
    attrs = _ATTRS,
    executable = True,
)

def _model_package(label):
    # "//models/yolo_torchserve:image" -> "//models/yolo_torchserve"
    return label.split(":")[0]

def environment_exports(name, data = [], **kwargs):
    """`:<name>.<env>` for every environment of platform/environments/: push, then export.

    Args:
        name: base name of the targets, conventionally "export" (in //platform).
        data: more files the CLI reads (every model's model.yaml, platform data and the runtimes'
            hooks are always there).
        **kwargs: common attributes (tags, visibility) for every generated target.
    """
    for env in ENVIRONMENTS:
        images = ENVIRONMENT_IMAGES[env]
        model_labels = sorted({label: None for label in images.values()}.keys())

        # A runtime's signature verifier image (runtime.yaml modelSignature.staged) is pushed and
        # pinned with the models' where the environment verifies model signatures.
        labels = sorted({label: None for label in model_labels + ENVIRONMENT_VERIFIER_IMAGES[env]}.keys())
        export_runner(
            name = "{}.{}".format(name, env),
            data = data + [Label("//platform"), Label("//runtimes:hooks")] + [
                _model_package(label) + ":model.yaml"
                for label in model_labels
            ],
            environment = env,
            # rules_oci's oci_image macro (and our py_image) make `<image>.digest` beside the image.
            image_digests = {label + ".digest": label for label in labels},
            image_layouts = {label: label for label in labels},
            **kwargs
        )
