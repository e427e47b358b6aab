"""Offline validation of rendered manifests: Kubernetes schemas (strict) and checkov policies.

- Built-in kinds: ``kubernetes-validate`` in strict mode (unknown fields are errors) at pinned
  Kubernetes versions.
- ServiceMonitor and PrometheusRule: the openAPIV3Schema of the CRDs in ``monitoring_crds`` (our
  own, written from prometheus-operator's API reference and narrower than its CRDs; that module
  says why and what is left out), made strict the same way, and their metadata checked with
  Kubernetes' ObjectMeta schema.
- Policy: checkov's kubernetes framework as a subprocess (its pins clash with ours), every skip
  read from ``platform/checkov-skips.yaml`` with its reason.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError

from tools.errors import UserError
from tools.k8s.checks import monitoring_crds
from tools.paths import REPO_ROOT
from tools.yamlio import load_yaml

# 1.30: the oldest release still in wide support and the Pod Security version the namespace pins;
# 1.37: the newest kubernetes-validate 1.37.0 bundles, so a removed API shows up early.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

MONITORING_API_VERSION = f"{monitoring_crds.GROUP}/{monitoring_crds.VERSION}"
# What an unknown field of those kinds may mean: our schema lists fewer fields than upstream's.
NARROWER_HINT = (
    "(tools/k8s/checks/monitoring_crds.py lists fewer fields than prometheus-operator's CRD; "
    "add a field there, from its API reference, if the platform needs it)"
)

CHECKOV_SKIPS = REPO_ROOT / "platform" / "checkov-skips.yaml"


def _strict(schema: dict) -> dict:
    """Refuses unknown fields wherever the schema lists properties, as kubectl's strict mode does."""
    schema = copy.deepcopy(schema)

    def visit(node):
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


@functools.cache
def crd_validator(kind: str) -> jsonschema.Draft202012Validator:
    """A strict validator from the openAPIV3Schema of ``kind``'s CRD (monitoring_crds)."""
    return jsonschema.Draft202012Validator(_strict(monitoring_crds.schema(kind)))


def _where(doc: dict) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def schema_problems(doc: dict, versions: tuple[str, ...] = KUBERNETES_VERSIONS) -> list[str]:
    """Every schema violation of one object, as ``Kind/name: message`` lines; empty when valid."""
    problems = []
    where = _where(doc)
    if doc.get("apiVersion") == MONITORING_API_VERSION and doc.get("kind") in monitoring_crds.KINDS:
        for error in crd_validator(doc["kind"]).iter_errors(doc):
            path = ".".join(str(p) for p in error.absolute_path)
            hint = f" {NARROWER_HINT}" if error.validator == "additionalProperties" else ""
            problems.append(f"{where}: {path}: {error.message}{hint}")
        # The CRD only says `metadata: object`; the API server checks it as ObjectMeta.
        doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc.get("metadata")}
    for version in versions:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.absolute_path)
            problems.append(f"{where}: Kubernetes {version}: {path}: {error.message}")
        except SchemaNotFoundError as error:
            problems.append(f"{where}: {error.message}")
    return problems


# --- checkov -----------------------------------------------------------------------------------


def checkov_binary() -> Path:
    """checkov from .venvs/checkov, or $CHECKOV."""
    return Path(os.environ.get("CHECKOV", REPO_ROOT / ".venvs" / "checkov" / "bin" / "checkov"))


def load_checkov_skips(path: Path = CHECKOV_SKIPS) -> dict[str, str]:
    """``{check id: reason}``; a skip without a reason is an error, not a silent pass."""
    data = load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("skips"), list):
        raise UserError("expected `skips:` with a list of {id, reason}", file=path)
    skips: dict[str, str] = {}
    for index, entry in enumerate(data["skips"]):
        field = f"skips.{index}"
        if not isinstance(entry, dict) or set(entry) != {"id", "reason"}:
            raise UserError("each skip needs exactly `id` and `reason`", file=path, field=field)
        check_id, reason = entry["id"], entry["reason"]
        if not (isinstance(check_id, str) and check_id.startswith("CKV")):
            raise UserError(f"not a checkov check id: {check_id!r}", file=path, field=f"{field}.id")
        if not (isinstance(reason, str) and len(reason.split()) >= 5):
            raise UserError("give the reason in a sentence", file=path, field=f"{field}.reason")
        if check_id in skips:
            raise UserError(f"{check_id} is listed twice", file=path, field=f"{field}.id")
        skips[check_id] = reason
    return skips


def run_checkov(directory: Path, skips: dict[str, str]) -> dict:
    """Runs ``checkov -d DIR --framework kubernetes --skip-download --compact`` and returns its JSON."""
    command = [
        str(checkov_binary()),
        "-d",
        str(directory),
        "--framework",
        "kubernetes",
        "--skip-download",
        "--compact",
        "--quiet",
        "--output",
        "json",
    ]
    if skips:
        command += ["--skip-check", ",".join(sorted(skips))]
    # checkov exits 1 when a check fails; the JSON report says which, so the exit code is not used.
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, "LOG_LEVEL": "ERROR"}
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise UserError(
            f"checkov did not report JSON (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
        ) from None
    if isinstance(report, list):  # one entry per framework; only kubernetes was asked for
        (report,) = report
    return report


def checkov_failures(report: dict) -> list[str]:
    failed = report.get("results", {}).get("failed_checks", [])
    return [f"{c['check_id']} {c['check_name']}: {c['file_path']} {c['resource']}" for c in failed]
