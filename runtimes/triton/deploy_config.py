"""Renders a Triton model's config.pbtxt for one environment (the runtime's deploy_config hook).

Contract with tools/k8s: ``config_files(model_dir, model_name, gpu) -> {"config.pbtxt": text}``,
which the manifests mount over ``/models/<model_name>/config.pbtxt`` from a ConfigMap. The text
comes from ONE template per model, ``config.pbtxt.tmpl`` (``string.Template``): ``${model_name}``
and ``${instance_kind}`` (``KIND_GPU`` with GPUs, else ``KIND_CPU``: a KIND_GPU model does not load
on a machine without GPUs). The result is parsed with Triton's own ModelConfig protobuf (shipped in
tritonclient), so a typo in the template fails here, naming the file, instead of in a pod.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

from tools.errors import UserError

TEMPLATE_NAME = "config.pbtxt.tmpl"
# Triton model names become directory names and URL path segments.
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_model_name(model_name: str, source: Path | None = None) -> None:
    if not isinstance(model_name, str) or not _MODEL_NAME.match(model_name):
        raise UserError(
            f"model name {model_name!r} is not a valid Triton model name (letters, digits, '_', '.', '-')",
            file=source,
        )


def find_template(model_dir: Path, model_name: str) -> Path:
    """The template in the Triton model dir itself, or in ``<model package>/model_repository/<name>/``."""
    _check_model_name(model_name)  # before it becomes part of a path
    candidates = [model_dir / TEMPLATE_NAME, model_dir / "model_repository" / model_name / TEMPLATE_NAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise UserError(
        f"no {TEMPLATE_NAME} for model {model_name!r}; looked at {', '.join(map(str, candidates))}"
    )


def render(template: Path, model_name: str, gpu: bool) -> str:
    """Fills and validates one template; every problem is a ``UserError`` naming the template."""
    _check_model_name(model_name, template)
    if not isinstance(gpu, bool):
        raise UserError(f"gpu must be true or false, not {gpu!r}", file=template)
    values = {"model_name": model_name, "instance_kind": "KIND_GPU" if gpu else "KIND_CPU"}
    try:
        text = string.Template(template.read_text(encoding="utf-8")).substitute(values)
    except KeyError as error:
        raise UserError(
            f"unknown placeholder ${{{error.args[0]}}}; known: {', '.join(sorted(values))}", file=template
        ) from None
    except ValueError as error:  # a lone "$": string.Template's own message says where
        raise UserError(f"bad placeholder: {error}", file=template) from None
    validate(text, model_name, gpu, source=template)
    return text


def validate(text: str, model_name: str, gpu: bool, *, source: Path | str = "config.pbtxt") -> None:
    """Parses ``text`` as Triton's ModelConfig and checks what the deploy relies on."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    config = model_config_pb2.ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as error:
        raise UserError(f"not a valid Triton model config after rendering: {error}", file=source) from None
    if config.name and config.name != model_name:
        raise UserError(
            f"config name {config.name!r} is not the model name {model_name!r}", file=source, field="name"
        )
    if not (config.backend or config.platform):
        raise UserError("config names neither a backend nor a platform", file=source, field="backend")
    wanted = (
        model_config_pb2.ModelInstanceGroup.KIND_GPU if gpu else model_config_pb2.ModelInstanceGroup.KIND_CPU
    )
    kinds = {group.kind for group in config.instance_group}
    if kinds != {wanted}:
        names = sorted(model_config_pb2.ModelInstanceGroup.Kind.Name(kind) for kind in kinds) or ["none"]
        raise UserError(
            f"instance groups are {', '.join(names)}; this environment needs only "
            f"{model_config_pb2.ModelInstanceGroup.Kind.Name(wanted)} (use ${{instance_kind}})",
            file=source,
            field="instance_group",
        )


def config_files(model_dir: Path, model_name: str, gpu: bool) -> dict[str, str]:
    """The files the manifests mount for this model: ``{"config.pbtxt": text}``."""
    model_dir = Path(model_dir)
    return {"config.pbtxt": render(find_template(model_dir, model_name), model_name, gpu)}
