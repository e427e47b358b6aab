"""What the runnable wrappers (model_deploy, environment_exports) share: runfiles paths of images."""

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
