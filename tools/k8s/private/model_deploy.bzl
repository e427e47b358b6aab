"""model_deploy: per-environment runnable targets that resolve and deploy one model.

The reference is rules_gitops' `k8s_deploy` (one instance per environment, `.apply`/`.delete`,
images substituted by digest) and rules_k8s' verbs. Each target is a thin wrapper around the one
CLI: `python -m tools <verb> <model> --env <env> [--digest-file LABEL=PATH ...]`, so `bazel run
//models/yolo:deploy.prod.apply` and `./dev apply yolo --env prod` do the same thing.
"""

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

_ATTRS = {
    "cli": attr.label(
        doc = "The servectl py_binary (python -m tools).",
        default = Label("//tools:servectl"),
        executable = True,
        cfg = "target",
    ),
    "data": attr.label_list(
        doc = "Files the CLI reads at run time: model.yaml, the runtime's runtime.yaml, platform data.",
        allow_files = True,
    ),
    "environment": attr.string(
        doc = "Environment name; its data is platform/environments/<environment>.yaml.",
        mandatory = True,
    ),
    "image_digests": attr.label_keyed_string_dict(
        doc = "rules_oci `<image>.digest` targets, each mapped to the image label the manifests name.",
        allow_files = True,
    ),
    "model": attr.string(
        doc = "Model name as the CLI knows it (models/<model>/model.yaml).",
        mandatory = True,
    ),
    "verb": attr.string(
        doc = "CLI verb to run.",
        mandatory = True,
        values = sorted(VERBS.keys()),
    ),
    "_template": attr.label(
        default = Label(":deploy.sh.tpl"),
        allow_single_file = True,
    ),
}

def _runfiles_path(ctx, file):
    # Runfiles layout: main-repo files under <workspace_name>/, external ones under <repo>/.
    if file.short_path.startswith("../"):
        return file.short_path[len("../"):]
    return ctx.workspace_name + "/" + file.short_path

def _shell_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"

def _deploy_runner_impl(ctx):
    digest_files = []
    pairs = []
    for target, image_label in ctx.attr.image_digests.items():
        files = target[DefaultInfo].files.to_list()
        if len(files) != 1:
            fail("{}: expected one digest file from {}, got {}".format(ctx.label, target.label, len(files)))
        digest_files.append(files[0])
        pairs.append(_shell_quote(image_label + "=" + _runfiles_path(ctx, files[0])))

    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.expand_template(
        template = ctx.file._template,
        output = script,
        substitutions = {
            "%{CLI}%": _runfiles_path(ctx, ctx.executable.cli),
            "%{DESCRIPTION}%": "{} ({} in {})".format(VERBS[ctx.attr.verb].doc, ctx.attr.model, ctx.attr.environment),
            "%{DIGESTS}%": " ".join(pairs),
            "%{ENVIRONMENT}%": _shell_quote(ctx.attr.environment),
            "%{MODEL}%": _shell_quote(ctx.attr.model),
            "%{VERB}%": _shell_quote(ctx.attr.verb),
        },
        is_executable = True,
    )
    runfiles = ctx.runfiles(files = digest_files + ctx.files.data + [ctx.executable.cli])
    runfiles = runfiles.merge(ctx.attr.cli[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

deploy_runner = rule(
    implementation = _deploy_runner_impl,
    doc = _DOC,
    attrs = _ATTRS,
    executable = True,
)

def model_deploy(
        name,
        model,
        images,
        environments = ["local", "staging", "prod"],
        default_environment = "local",
        data = [],
        **kwargs):
    """Runnable deploy targets for one model in every environment.

    For each environment `env` and verb in resolve, diff, apply, delete, status this makes
    `:<name>.<env>.<verb>`, plus `:<name>.<verb>` aliases for `default_environment`:

        bazel run //models/yolo:deploy.prod.resolve     # manifests, images by digest
        bazel run //models/yolo:deploy.apply            # the local environment
        bazel run //models/yolo:deploy.staging.diff -- --verbose

    Args:
        name: base name of the targets, conventionally "deploy".
        model: model name the CLI knows (models/<model>/model.yaml).
        images: image labels (rules_oci oci_image or our py_image) the manifests refer to; each
            `<image>.digest` file is passed to the CLI as `--digest-file <image>=<path>`.
        environments: environment names, each with platform/environments/<env>.yaml.
        default_environment: the environment the short `:<name>.<verb>` aliases point at.
        data: files the CLI reads besides platform data (model.yaml, the runtime's runtime.yaml).
        **kwargs: common attributes (tags, visibility) for every generated target.
    """
    if default_environment not in environments:
        fail("model_deploy {}: default_environment {} is not one of {}".format(name, default_environment, environments))
    digests = {}
    for image in images:
        if ":" not in image:
            fail("model_deploy {}: image {} must name its target (//pkg:name or :name)".format(name, image))
        absolute = image if image.startswith(("//", "@")) else "//{}{}".format(native.package_name(), image)

        # rules_oci's oci_image macro (and our py_image) make `<image>.digest` beside the image.
        digests[image + ".digest"] = absolute

    for env in environments:
        for verb in sorted(VERBS.keys()):
            deploy_runner(
                name = "{}.{}.{}".format(name, env, verb),
                data = data + [Label("//platform")],
                environment = env,
                image_digests = digests if VERBS[verb].needs_digests else {},
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
