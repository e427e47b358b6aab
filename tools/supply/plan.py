"""What each layer of a built image should hold, read from the same BUILD description the builder
used (``py_image`` and its bases, ``debian_base`` and its lock).

The order is the builder's (tools/oci/builder.py): base layers, pip packages, model artifacts by
destination, placed files, app code. Each planned layer names the history prefix the builder
writes for it, and the plan is checked against the image's own history, so a builder change that
reorders layers fails here loudly instead of mis-attributing files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tools.bazel.build_file import read_target
from tools.errors import UserError
from tools.labels import Label
from tools.oci import builder, debian
from tools.oci.layers import APP_ROOT
from tools.oci.spec import image_spec
from tools.paths import REPO_ROOT


@dataclass
class LayerPlan:
    kind: str  # debian | pip | artifacts | files | app
    history_prefix: str  # how the builder's config history names this layer
    lock: Path | None = None  # debian: packages.lock.json; pip: requirements_<hub>.lock
    lock_layer: str = ""  # debian: the lock's layer name
    packages: list[dict] = field(default_factory=list)  # debian: the lock entries
    artifact: Label | None = None  # artifacts: the model_artifacts target
    destination: str = ""  # artifacts: where in the image
    placed: dict[str, Path] = field(default_factory=dict)  # files/app: image path -> repo file


def _base_plan(base: str, package: str, root: Path) -> tuple[list[LayerPlan], list[str]]:
    """Layers of the base, and the images it was built on (py_image labels, bottom last)."""
    label = Label.parse(base, package=package)
    if base.startswith("@"):
        raise UserError(
            f"base {base} is pulled by Bazel only: the Python builder (and its SBOM) cannot see it"
        )
    target = read_target(label, root=root)
    if target.kind == "debian_base":
        lock = root / label.package / target.attrs.get("lock", "packages.lock.json")
        return [
            LayerPlan("debian", f"servectl: debian {name}:", lock=lock, lock_layer=name, packages=packages)
            for name, packages in debian.select_layers(lock, target.attrs.get("layers"))
        ], []
    plans, bases = layer_plan(label, root=root)
    return plans, [str(label), *bases]


def layer_plan(label: Label, *, root: Path = REPO_ROOT) -> tuple[list[LayerPlan], list[str]]:
    """(planned layers in image order, the py_image bases under ``label``)."""
    target = read_target(label, root=root)
    spec = image_spec(target)
    plans, bases = _base_plan(spec.base, label.package, root)
    if spec.requirements:
        lock_label = Label.parse(spec.requirements, package=label.package)
        plans.append(
            LayerPlan("pip", "servectl: pip install -r", lock=root / lock_label.package / lock_label.name)
        )
    for destination, artifact in sorted(spec.artifacts.items()):
        plans.append(
            LayerPlan(
                "artifacts",
                "servectl: artifacts",
                artifact=Label.parse(artifact, package=label.package),
                destination=destination.rstrip("/"),
            )
        )
    if spec.files:
        placed = builder._placed_files(spec, label.package, root)  # the builder's own placement
        plans.append(LayerPlan("files", "servectl: files:", placed=placed))
    app_labels = [*spec.srcs, *spec.deps, *([spec.main] if spec.main else [])]
    files = builder.collect_sources(app_labels, label.package, root)
    if files:
        placed = {f"/{APP_ROOT}/{f.relative_to(root).as_posix()}": f for f in files}
        plans.append(LayerPlan("app", "servectl: app:", placed=placed))
    return plans, bases


def check_against_history(plans: list[LayerPlan], history: list[str], where: Path) -> None:
    if len(plans) != len(history):
        raise UserError(
            f"the image has {len(history)} layers but its BUILD description gives {len(plans)}: "
            "rebuild it (python -m tools build) before making its SBOM",
            file=where,
        )
    for position, (plan, created_by) in enumerate(zip(plans, history, strict=True)):
        if not created_by.startswith(plan.history_prefix):
            raise UserError(
                f"layer {position} was built as {created_by!r}, the description expects "
                f"{plan.history_prefix!r}: rebuild the image",
                file=where,
            )
