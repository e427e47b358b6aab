"""model_deploy: per-environment runnable targets that resolve and deploy one model.

The reference is rules_gitops' `k8s_deploy` (one instance per environment, `.apply`/`.delete`,
images substituted by digest) and rules_k8s' verbs. Each target is a thin wrapper around the one
CLI: `python -m tools <verb> <model> --env <env> [--digest-file LABEL=PATH ...]`, so `bazel run
//models/yolo:deploy.prod.apply` and `./dev apply yolo --env prod` do the same thing; `.apply`
first runs `python -m tools push --env <env> --layout LABEL=DIR` on the images Bazel built.

One source per fact: the environments are platform/environments/*.yaml (through the generated
//platform:environments.bzl), the model's name is its package's, and its runtime is read by the
CLI from model.yaml at run time: Starlark cannot read a file while loading a BUILD file, so the
targets carry every runtime's hook library (//runtimes:hooks) instead of a copied runtime name.
"""

load("//platform:environments.bzl", "ENVIRONMENTS")
load(":runner_files.bzl", "CLI_RUNNER_ATTRS", "labelled_files", "runfiles_path", "shell_quote")

# Verbs and what they do; the ones that render manifests need the images' digests, so running
# them builds the images first. `delete` and `status` act on what is deployed and build nothing.
VERBS = {
    "apply": struct(needs_digests = True, doc = "build and push the images, then apply the manifests and wait until ready"),
    "delete": struct(needs_digests = False, doc = "delete this model's objects from the environment"),
    "diff": struct(needs_digests = True, doc = "show what apply would change (exit 1 when something would)"),
    "resolve": struct(needs_digests = True, doc = "print the manifests with every image pinned by digest"),
    "status": struct(needs_digests = False, doc = "show ready replicas, running image digests and the endpoint"),
}

_DOC = """A runnable wrapper that calls the servectl CLI for one verb, model and environment."""

_ATTRS = dict(
    CLI_RUNNER_ATTRS,
    model = attr.string(
        doc = "Model name as the CLI knows it: the package's name (models/<model>).",
        mandatory = True,
    ),
    verb = attr.string(
        doc = "CLI verb to run.",
        mandatory = True,
        values = sorted(VERBS.keys()),
    ),
    _template = attr.label(
        default = Label(":deploy.sh.tpl"),
        allow_single_file = True,
    ),
)

def _deploy_runner_impl(ctx):
    digest_files, digest_pairs = labelled_files(ctx, ctx.attr.image_digests, "digest file")
    layouts, layout_pairs = labelled_files(ctx, ctx.attr.image_layouts, "image layout")

    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.expand_template(
        template = ctx.file._template,
        output = script,
        substitutions = {
            "%{CLI}%": runfiles_path(ctx, ctx.executable.cli),
            "%{DESCRIPTION}%": "{} ({} in {})".format(VERBS[ctx.attr.verb].doc, ctx.attr.model, ctx.attr.environment),
            "%{DIGESTS}%": digest_pairs,
            "%{ENVIRONMENT}%": shell_quote(ctx.attr.environment),
            "%{LAYOUTS}%": layout_pairs,
            "%{MODEL}%": shell_quote(ctx.attr.model),
            "%{VERB}%": shell_quote(ctx.attr.verb),
        },
        is_executable = True,
    )
    runfiles = ctx.runfiles(files = digest_files + layouts + ctx.files.data + [ctx.executable.cli])
    runfiles = runfiles.merge(ctx.attr.cli[DefaultInfo].default_runfiles)
    for target in ctx.attr.data:
        # py_library data (the runtimes' hooks) bring their sources and pip deps as runfiles.
        runfiles = runfiles.merge(target[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

deploy_runner = rule(
    implementation = _deploy_runner_impl,
    doc = _DOC,
    attrs = _ATTRS,
    executable = True,
)

def model_deploy(
        name,
        images,
        default_environment = "local",
        data = [],
        **kwargs):
    """Runnable deploy targets for the model of this package (models/<model>) in every environment.

    For each environment `env` of platform/environments/ and verb in resolve, diff, apply, delete,
    status this makes `:<name>.<env>.<verb>`, plus `:<name>.<verb>` aliases for
    `default_environment`:

        bazel run //models/yolo:deploy.prod.resolve     # manifests, images by digest
        bazel run //models/yolo:deploy.apply            # the local environment
        bazel run //models/yolo:deploy.staging.diff -- --verbose

    Args:
        name: base name of the targets, conventionally "deploy".
        images: image labels (rules_oci oci_image or our py_image) the manifests refer to; each
            `<image>.digest` file is passed to the CLI as `--digest-file <image>=<path>`, and
            `.apply` pushes each image's layout first.
        default_environment: the environment the short `:<name>.<verb>` aliases point at.
        data: more files the CLI reads (model.yaml, platform data and the runtimes' hooks are
            always there).
        **kwargs: common attributes (tags, visibility) for every generated target.
    """
    if default_environment not in ENVIRONMENTS:
        fail("model_deploy {}: default_environment {} is not one of {} (platform/environments/)".format(
            name,
            default_environment,
            ENVIRONMENTS,
        ))

    # The package is the model name with "-" as "_" (tools/k8s/schema/specs.py model_dir): yolo_torchserve.
    model = native.package_name().rsplit("/", 1)[-1].replace("_", "-")
    digests = {}
    layouts = {}
    for image in images:
        if ":" not in image:
            fail("model_deploy {}: image {} must name its target (//pkg:name or :name)".format(name, image))
        absolute = image if image.startswith(("//", "@")) else "//{}{}".format(native.package_name(), image)

        # rules_oci's oci_image macro (and our py_image) make `<image>.digest` beside the image.
        digests[image + ".digest"] = absolute
        layouts[image] = absolute

    for env in ENVIRONMENTS:
        for verb in sorted(VERBS.keys()):
            deploy_runner(
                name = "{}.{}.{}".format(name, env, verb),
                data = data + ["model.yaml", Label("//platform"), Label("//runtimes:hooks")],
                environment = env,
                image_digests = digests if VERBS[verb].needs_digests else {},
                image_layouts = layouts if verb == "apply" else {},
                model = model,
                verb = verb,
                **kwargs
            )
    for verb in sorted(VERBS.keys()):
        native.alias(
            name = "{}.{}".format(name, verb),
            actual = ":{}.{}.{}".format(name, default_environment, verb),
            **kwargs
        )
