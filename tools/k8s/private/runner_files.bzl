"""What the runnable wrappers (model_deploy, environment_exports) share: their common attributes
and the runfiles paths of the images they hand the CLI."""

# The attributes of every wrapper that runs the servectl CLI with Bazel-built images.
CLI_RUNNER_ATTRS = {
    "cli": attr.label(
        doc = "The servectl py_binary (python -m tools).",
        default = Label("//tools:servectl"),
        executable = True,
        cfg = "target",
    ),
    "data": attr.label_list(
        doc = "What the CLI reads at run time: model.yaml files, platform data, the runtimes' hook libraries (with their runfiles).",
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
    "image_layouts": attr.label_keyed_string_dict(
        doc = "rules_oci image targets (OCI layout directories), each mapped to its label; pushed first (apply and export).",
        allow_files = True,
    ),
}

def runfiles_path(ctx, file):
    # Runfiles layout: main-repo files under <workspace_name>/, external ones under <repo>/.
    if file.short_path.startswith("../"):
        return file.short_path[len("../"):]
    return ctx.workspace_name + "/" + file.short_path

def shell_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"

def labelled_files(ctx, targets, what):
    """(files, "'LABEL=RUNFILES_PATH' ...") for a label_keyed_string_dict of one-file targets.

    Args:
        ctx: the rule's context.
        targets: the attribute's value, target -> the image label the CLI knows it by.
        what: what each target gives, for the error ("digest file", "image layout").
    Returns:
        The files (for the runfiles) and the shell-quoted pairs the template loops over.
    """
    files = []
    pairs = []
    for target, image_label in targets.items():
        given = target[DefaultInfo].files.to_list()
        if len(given) != 1:
            fail("{}: expected one {} from {}, got {}".format(ctx.label, what, target.label, len(given)))
        files.append(given[0])
        pairs.append(shell_quote(image_label + "=" + runfiles_path(ctx, given[0])))
    return files, " ".join(pairs)
