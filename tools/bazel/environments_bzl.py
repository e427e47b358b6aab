"""platform/environments.bzl: the environments for Bazel macros, generated from the data files.

    python -m tools.bazel.environments_bzl            # rewrite platform/environments.bzl
    python -m tools.bazel.environments_bzl --check    # exit 1 if it is stale (a test runs this)

A BUILD or .bzl file cannot list another package's directory (glob() sees only its own package)
nor read YAML, so the one source, platform/environments/<env>.yaml with the models' model.yaml
`images`, is turned into .bzl constants: ENVIRONMENTS (model_deploy makes targets per environment)
and ENVIRONMENT_IMAGES, environment -> model -> the image variant the environment runs (the CLI's
own choice: ModelEnvironment.device picks model.yaml's `images` entry), which environment_exports
pushes and exports, with ENVIRONMENT_VERIFIER_IMAGES (the runtimes' signature verifier images
where the environment verifies model signatures). The graph check and tools/bazel/tests fail when
the file is stale. The CLI reads the directory itself (tools/k8s/schema/environments.py
known_environments), so adding an environment, or a model to one, is editing YAML and running
this command.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import ValidationError

from tools.bazel.packages import Problem
from tools.errors import UserError
from tools.k8s.schema.environments import ModelEnvironment
from tools.k8s.schema.specs import ImageVariants, model_dir
from tools.paths import REPO_ROOT
from tools.yamlio import load_yaml

BZL = Path("platform") / "environments.bzl"


def environment_names(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "platform" / "environments").glob("*.yaml"))


def _read(path: Path) -> dict:
    data = load_yaml(path) or {}
    if not isinstance(data, dict):
        raise UserError("expected a mapping", file=path)
    return data


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}".lstrip(": ")


def environment_images(root: Path) -> dict[str, dict[str, str]]:
    """Environment -> model -> image label: the variant each environment runs (gpu when it gives the
    model a GPU, else cpu), from the same schema classes resolve uses."""
    picks: dict[str, dict[str, str]] = {}
    for env in environment_names(root):
        path = root / "platform" / "environments" / f"{env}.yaml"
        models = _read(path).get("models") or {}
        picks[env] = {}
        for model, entry in sorted(models.items()):
            where = f"models.{model}"
            try:
                device = ModelEnvironment.model_validate(entry).device
            except ValidationError as error:
                raise UserError(_first_error(error), file=path, field=where) from None
            model_yaml = model_dir(model, root) / "model.yaml"
            if not model_yaml.is_file():
                raise UserError(
                    f"no model {model!r} ({model_yaml.relative_to(root)} does not exist)",
                    file=path,
                    field=where,
                )
            try:
                label = ImageVariants.model_validate(_read(model_yaml).get("images") or {}).label(device)
            except ValidationError as error:
                raise UserError(_first_error(error), file=model_yaml, field="images") from None
            if label is None:
                raise UserError(
                    f"no {device} image in model.yaml images, but {env} runs it on a {device}",
                    file=model_yaml,
                    field="images",
                )
            picks[env][model] = str(label)
    return picks


def runtime_verifier_images(root: Path, runtime: object) -> set[str]:
    """The images of ours a runtime's pods run besides the model's, where signatures are verified
    (runtime.yaml ``modelSignature.staged.verifierImage``; RuntimeSpec.verifier_images in the CLI)."""
    runtime_yaml = root / "runtimes" / str(runtime) / "runtime.yaml"
    if not runtime_yaml.is_file():
        return set()  # model.yaml's own schema reports an unknown runtime
    staged = ((_read(runtime_yaml).get("modelSignature") or {}).get("staged")) or {}
    return {str(staged["verifierImage"])} if staged.get("verifierImage") else set()


def environment_verifier_images(root: Path) -> dict[str, list[str]]:
    """Environment -> the verifier images its pods run: those of its models' runtimes, where the
    environment verifies model signatures (``features.verifyModelSignatures``), else none."""
    found: dict[str, list[str]] = {}
    for env in environment_names(root):
        data = _read(root / "platform" / "environments" / f"{env}.yaml")
        labels: set[str] = set()
        if (data.get("features") or {}).get("verifyModelSignatures"):
            for model in data.get("models") or {}:
                model_yaml = model_dir(model, root) / "model.yaml"
                runtime = _read(model_yaml).get("runtime") if model_yaml.is_file() else None
                labels |= runtime_verifier_images(root, runtime)
        found[env] = sorted(labels)
    return found


def render(root: Path) -> str:
    names = "".join(f'    "{name}",\n' for name in environment_names(root))
    images = ""
    for env, models in environment_images(root).items():
        entries = "".join(f'        "{model}": "{label}",\n' for model, label in models.items())
        images += f'    "{env}": {{\n{entries}    }},\n' if entries else f'    "{env}": {{}},\n'
    verifiers = ""
    for env, labels in environment_verifier_images(root).items():
        entries = "".join(f'        "{label}",\n' for label in labels)
        verifiers += f'    "{env}": [\n{entries}    ],\n' if entries else f'    "{env}": [],\n'
    return (
        '"""Generated by `python -m tools.bazel.environments_bzl` from platform/environments/*.yaml\n'
        "and the models' model.yaml `images`.\n\n"
        "Do not edit: change the YAML and rerun the command.\n"
        '"""\n\n'
        f"ENVIRONMENTS = [\n{names}]\n\n"
        "# Environment -> model -> the image variant the environment runs (model.yaml `images`: gpu\n"
        "# where the environment gives the model a GPU, else cpu).\n"
        f"ENVIRONMENT_IMAGES = {{\n{images}}}\n\n"
        "# Environment -> the images of ours its pods run besides the models' (a runtime's signature\n"
        "# verifier, runtime.yaml `modelSignature.staged`), where it verifies model signatures.\n"
        f"ENVIRONMENT_VERIFIER_IMAGES = {{\n{verifiers}}}\n"
    )


def check(root: Path) -> list[Problem]:
    """The graph check's view: the file is what render() writes from the data (one source)."""
    if not (root / "platform" / "environments").is_dir():
        return []
    path = root / BZL
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        wanted = render(root)
    except UserError as error:
        return [Problem(str(BZL), f"cannot be generated: {error}")]
    if current == wanted:
        return []
    message = "stale: it does not match platform/environments/*.yaml and the models' images"
    return [Problem(str(BZL), f"{message}; run python -m tools.bazel.environments_bzl")]


def main(argv: list[str] | None = None, root: Path = REPO_ROOT) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        wanted = render(root)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    path = root / BZL
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if "--check" in argv:
        if current != wanted:
            print(f"error: {BZL} is stale: run python -m tools.bazel.environments_bzl", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        path.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
