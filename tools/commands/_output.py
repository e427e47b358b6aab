"""``-o json`` for the verbs scripts call (the MLOps service, CI): one JSON document on stdout.

Schemas (keys are stable; new keys may be added, none removed or renamed without a version bump):

- ``resolve -o json``: a Kubernetes ``List`` (``{"apiVersion": "v1", "kind": "List", "items": [...]}``),
  the objects in apply order, images pinned by digest; ``kubectl apply -f -`` takes it as it is.
- ``status -o json``: ``{"schema": "servectl.status/v1", "model", "environment", "target"
  ("kubernetes" or "podman"), "ready" (bool), "endpoint" (URL or null), "lines" (what the text
  output prints), "details"}``; on Kubernetes ``details`` is ``{"deployments": [{"namespace",
  "name", "desired", "ready", "updated", "available", "images", "running_image_ids",
  "rolled_out"}], "services": [{"namespace", "name", "cluster_ip", "ports", "external"}]}``.
- ``apply -o json``: ``{"schema": "servectl.apply/v1", "model", "environment", "dry_run",
  "changed" (bool), "images" (what now runs, ``registry/repo@sha256:...``), "report" (the lines
  the text output prints: the changes for ``--dry-run``, the pod's status on podman)}``; progress
  stays on stderr.
- ``diff -o json``: ``{"schema": "servectl.diff/v1", "model", "environment", "changed", "diff"
  (the text output's lines)}``; exit 1 when something would change, as without ``-o json``.
- ``delete -o json``: ``{"schema": "servectl.delete/v1", "model", "environment", "dry_run",
  "deleted"}``, ``deleted`` being what was (or would be) removed, as the text output lists it
  (``delete Deployment ns/name`` on Kubernetes); an empty list when nothing was deployed.
- ``history -o json``: ``{"schema": "servectl.history/v1", "model", "environment", "revisions":
  [{"revision" (N), "applied_at" (UTC ISO 8601), "digests" (image label -> sha256:...),
  "rollback_of" (N or null)}]}``, oldest first; an empty list when none is recorded.
- ``rollback -o json``: ``{"schema": "servectl.rollback/v1", "model", "environment"}`` plus the
  keys of one ``history`` revision: the revision the rollback recorded (``rollback_of`` says
  which one it went back to).
- ``rbac -o json``: a ``List`` of the deployer's objects.
- Any error, with ``-o json``: ``{"schema": "servectl.error/v1", "error": {"message", "file",
  "field"}}`` on stdout (the one ``error:`` line still goes to stderr).

Exit codes are those of the text output: 0 done (``status``: ready), 1 ``status`` not ready (or
``diff`` found changes), 2 a user error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

from tools.errors import UserError

ERROR_SCHEMA = "servectl.error/v1"
STATUS_SCHEMA = "servectl.status/v1"
DELETE_SCHEMA = "servectl.delete/v1"
APPLY_SCHEMA = "servectl.apply/v1"
DIFF_SCHEMA = "servectl.diff/v1"
HISTORY_SCHEMA = "servectl.history/v1"
ROLLBACK_SCHEMA = "servectl.rollback/v1"


def add_format(parser: argparse.ArgumentParser, *, text: str = "text") -> None:
    """``-o/--output {text,json}`` (``text`` is ``yaml`` for the verbs that print manifests)."""
    parser.add_argument(
        "-o", "--output", choices=(text, "json"), default=text, help=f"output format ({text} or json)"
    )


def wants_json(args: argparse.Namespace) -> bool:
    """Whether the verb was asked for JSON."""
    return getattr(args, "output", None) == "json"


def print_json(document) -> None:
    """One JSON document on stdout, keys sorted so the same state prints the same bytes."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")


def object_list(objects: list[dict]) -> dict:
    """Kubernetes objects as a ``v1`` ``List``."""
    return {"apiVersion": "v1", "kind": "List", "items": objects}


def print_error(error: UserError) -> None:
    """The error as JSON on stdout, for callers that asked for JSON."""
    print_json(
        {
            "schema": ERROR_SCHEMA,
            "error": {"message": error.message, "file": error.file, "field": error.field},
        }
    )
