"""A model's image variants are one fact: model.yaml `images` (cpu, gpu) names them, and the
package's model_deploy must hand exactly those images to its runners, or `bazel run
:deploy.<env>.resolve` has no digest for the variant the environment picks (or builds one no
environment uses). Starlark cannot read model.yaml while loading the BUILD file, so the two lists
are compared here instead.
"""

from __future__ import annotations

import re

import yaml

from tools.bazel.packages import Problem


def _absolute(label: str, package: str) -> str:
    return f"//{package}{label}" if label.startswith(":") else label


def check_image_variants(workspace) -> list[Problem]:
    problems = []
    for name, package in sorted(workspace.packages.items()):
        model_yaml = workspace.root / name / "model.yaml"
        if not re.fullmatch(r"models/[^/]+", name) or not package.evaluated or not model_yaml.is_file():
            continue
        images = (yaml.safe_load(model_yaml.read_text(encoding="utf-8")) or {}).get("images")
        if not isinstance(images, dict):
            continue  # model.yaml's own schema reports it (tools/k8s/schema/specs.py)
        declared = {_absolute(str(label), name): device for device, label in images.items()}
        applies = [
            t for t in package.targets.values() if t.kind == "deploy_runner" and t.attrs.get("image_layouts")
        ]
        build = str(package.build_file.relative_to(workspace.root))
        for runner in applies[:1]:  # every environment's runner gets the same images
            deployed = set(runner.attrs["image_layouts"].values())
            for label, device in sorted(declared.items()):
                if label not in deployed:
                    problems.append(
                        Problem(
                            build,
                            f"model.yaml images.{device} is {label}, which model_deploy's images do not "
                            "list: :deploy.<env>.resolve would have no digest for it",
                        )
                    )
            for label in sorted(deployed - set(declared)):
                problems.append(
                    Problem(
                        build, f"model_deploy's image {label} is no variant in model.yaml images (cpu, gpu)"
                    )
                )
    return problems
