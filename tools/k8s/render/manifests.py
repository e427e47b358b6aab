"""One template set for every model: typed data in, an ordered list of Kubernetes objects out.

``render(model, env)`` builds plain dicts from runtimes/<r>/runtime.yaml, models/<m>/model.yaml,
platform/platform.yaml and platform/environments/<env>.yaml; images are still Bazel labels
(``//models/yolo:image``) that ``tools.k8s.render.resolve`` swaps for ``registry/repo@sha256:...``.
``to_yaml`` dumps them with yaml.safe_dump: no text templating of YAML anywhere.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tools.k8s.kinds import apply_rank
from tools.k8s.render.exposure import service, service_monitor
from tools.k8s.render.inputs import RenderInputs, load_inputs
from tools.k8s.render.network import model_network_policy
from tools.k8s.render.platform_objects import platform_objects
from tools.k8s.render.scaling import horizontal_pod_autoscaler, pod_disruption_budget
from tools.k8s.render.workload import config_map, deployment, runtime_config_files
from tools.observability.objects import observability_objects
from tools.paths import REPO_ROOT


def render_inputs(inputs: RenderInputs) -> list[dict]:
    """The objects for already loaded inputs, in apply order (tools.k8s.kinds); images as labels."""
    files = runtime_config_files(inputs)
    docs = [
        *platform_objects(inputs),
        model_network_policy(inputs),
        config_map(inputs, files) if files is not None else None,
        deployment(inputs, files),
        service(inputs),
        pod_disruption_budget(inputs),
        horizontal_pod_autoscaler(inputs),
        service_monitor(inputs),
    ]
    docs = [doc for doc in docs if doc is not None] + observability_objects(inputs)
    return sorted(docs, key=lambda doc: apply_rank(doc["kind"]))  # stable: ties keep their order


def render(model: str, env: str, *, root: Path = REPO_ROOT) -> list[dict]:
    """The model's objects for the environment, in apply order, images still as Bazel labels."""
    return render_inputs(load_inputs(model, env, root=root))


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings (config files) as readable literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(docs: list[dict]) -> str:
    """Multi-document YAML, keys in the order they were built (apiVersion, kind, metadata, spec)."""
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, explicit_start=True, width=110)
