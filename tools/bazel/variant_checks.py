"""A model's image variants are one fact: model.yaml `images` (cpu, gpu) names them, and the
package's model_deploy must hand exactly those images to its runners, or `bazel run
:deploy.<env>.resolve` has no digest for the variant the environment picks (or builds one no
environment uses). Starlark cannot read model.yaml while loading the BUILD file, so the two lists
are compared here instead. Likewise each environment's export (`//platform:export.<env>`) must push
exactly the variants the environment runs. The same holds for the images of ours a runtime's pods
run besides the model's (runtime.yaml ``modelSignature.staged.verifierImage``): model_deploy must
list them, and the export of each environment that verifies model signatures.
"""

from __future__ import annotations

import re

import yaml

from tools.bazel import environments_bzl
from tools.bazel.packages import Problem
from tools.errors import UserError


def _absolute(label: str, package: str) -> str:
    return f"//{package}{label}" if label.startswith(":") else label


def check_image_variants(workspace) -> list[Problem]:
    problems = []
    for name, package in sorted(workspace.packages.items()):
        model_yaml = workspace.root / name / "model.yaml"
        if not re.fullmatch(r"models/[^/]+", name) or not package.evaluated or not model_yaml.is_file():
            continue
        model = yaml.safe_load(model_yaml.read_text(encoding="utf-8")) or {}
        images = model.get("images")
        if not isinstance(images, dict):
            continue  # model.yaml's own schema reports it (tools/k8s/schema/specs.py)
        declared = {_absolute(str(v), name): f"model.yaml images.{device}" for device, v in images.items()}
        for label in environments_bzl.runtime_verifier_images(workspace.root, model.get("runtime")):
            declared[label] = f"runtime {model.get('runtime')}'s modelSignature.staged.verifierImage"
        applies = [
            t for t in package.targets.values() if t.kind == "deploy_runner" and t.attrs.get("image_layouts")
        ]
        build = str(package.build_file.relative_to(workspace.root))
        for runner in applies[:1]:  # every environment's runner gets the same images
            deployed = set(runner.attrs["image_layouts"].values())
            for label, where in sorted(declared.items()):
                if label not in deployed:
                    problems.append(
                        Problem(
                            build,
                            f"{where} is {label}, which model_deploy's images do not "
                            "list: :deploy.<env>.resolve would have no digest for it",
                        )
                    )
            for label in sorted(deployed - set(declared)):
                problems.append(
                    Problem(
                        build,
                        f"model_deploy's image {label} is no variant in model.yaml images (cpu, gpu) "
                        "nor its runtime's verifier image",
                    )
                )
    return problems


def check_environment_exports(workspace) -> list[Problem]:
    """Every environment has `//platform:export.<env>`, and each export_runner pushes and passes the
    digest of exactly the images its environment runs (platform/environments/<env>.yaml with each
    model.yaml `images`): a model it leaves out would be exported with a digest Bazel did not build
    (the CLI's own build record, or none), one it adds is pushed for nothing."""
    platform = workspace.packages.get("platform")
    if platform is None or not platform.evaluated:
        return []
    try:
        runs = environments_bzl.environment_images(workspace.root)
        verifier_images = environments_bzl.environment_verifier_images(workspace.root)
    except UserError:
        return []  # environments_bzl.check reports it
    build = str(platform.build_file.relative_to(workspace.root))
    problems = [
        Problem(build, f"missing promised target :export.{env} (environment_exports)")
        for env in sorted(runs)
        if f"export.{env}" not in platform.targets
    ]
    for package in workspace.packages.values():
        for target in package.targets.values():
            if target.kind != "export_runner":
                continue
            where = str(package.build_file.relative_to(workspace.root))
            env = target.attrs.get("environment")
            wanted = {label: model for model, label in runs.get(env, {}).items()}
            layouts = set((target.attrs.get("image_layouts") or {}).values())
            digests = set((target.attrs.get("image_digests") or {}).values())
            verifiers = set(verifier_images.get(env, []))
            for label in sorted(verifiers - set(wanted)):
                if label not in layouts or label not in digests:
                    problems.append(
                        Problem(
                            where,
                            f"{env} verifies model signatures with {label} (a runtime's "
                            "modelSignature.staged), which this export does not push with its digest",
                            target.name,
                            "image_layouts",
                        )
                    )
            for label, model in sorted(wanted.items()):
                if label not in layouts or label not in digests:
                    problems.append(
                        Problem(
                            where,
                            f"{env} runs {model} as {label} (platform/environments/{env}.yaml, model.yaml "
                            "images), which this export does not push with its digest: the manifests "
                            "would name an image Bazel did not build",
                            target.name,
                            "image_layouts",
                        )
                    )
            for label in sorted((layouts | digests) - set(wanted) - verifiers):
                problems.append(
                    Problem(
                        where,
                        f"{label} is no image {env} runs (platform/environments/{env}.yaml)",
                        target.name,
                        "image_layouts",
                    )
                )
    return problems
