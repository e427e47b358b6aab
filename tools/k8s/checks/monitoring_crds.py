"""ServiceMonitor and PrometheusRule CRDs (monitoring.coreos.com/v1), written here: OUR schema.

Why not prometheus-operator's own CRD files: no package reachable by this project's installs
(PyPI, Debian, npm) ships them or their OpenAPI schemas, and files fetched from upstream's
repository may not be committed. So this module describes the two kinds itself, from
prometheus-operator's API reference for monitoring.coreos.com/v1 (Documentation/api-reference/
api.md, v0.93: ServiceMonitorSpec, Endpoint, RelabelConfig, NamespaceSelector, PrometheusRuleSpec,
RuleGroup, Rule, Duration).

It is NARROWER than upstream's CRDs, on purpose:
- ServiceMonitor: the selection, scrape and relabelling fields only. Authentication, TLS and proxy
  settings (they point at Secrets the platform does not render), native-histogram and
  scrape-protocol settings and ``serviceDiscoveryRole`` are left out, so validation refuses them
  ("... was unexpected") until someone adds them here from the API reference.
- PrometheusRule: every field of the reference.
A field listed here has the reference's type, enum or Duration format, so an object that passes is
one prometheus-operator's CRD accepts too; the converse does not hold for the fields left out.

Used by tools.k8s.checks.validate (offline schema validation of rendered objects) and by the
tests that install these CRDs into a real kube-apiserver. A real cluster gets prometheus-operator's
own CRDs with the operator: never install these there.
"""

from __future__ import annotations

GROUP = "monitoring.coreos.com"
VERSION = "v1"
# On each CRD: says whose schema this is, for anyone who finds it installed.
SCHEMA_NOTE_KEY = "servectl/schema"
SCHEMA_NOTE = (
    "written by creativeflow (tools/k8s/checks/monitoring_crds.py) from prometheus-operator's API "
    "reference; narrower than prometheus-operator's CRD; for validation and tests only"
)

# The reference's Duration: "a valid time duration that can be parsed by Prometheus
# model.ParseDuration(); supported units: y, w, d, h, m, s, ms" (e.g. 30s, 1h20m15s, 15d), or 0.
DURATION_PATTERN = r"^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$"
# Endpoint.scheme: "HTTP scheme to use when scraping"; both cases are accepted.
SCHEMES = ["http", "https", "HTTP", "HTTPS"]
# RelabelConfig.action: Prometheus' relabel actions, each lower-case or in CamelCase; default replace.
RELABEL_ACTIONS = [
    "replace", "Replace", "keep", "Keep", "drop", "Drop", "hashmod", "HashMod",
    "labelmap", "LabelMap", "labeldrop", "LabelDrop", "labelkeep", "LabelKeep",
    "lowercase", "Lowercase", "uppercase", "Uppercase", "keepequal", "KeepEqual", "dropequal", "DropEqual",
]  # fmt: skip
# RuleGroup.partial_response_strategy (Thanos): "abort" or "warn", any case, or empty. Spelt without
# an inline (?i) flag so Go (the API server) and Python (jsonschema) read it the same.
PARTIAL_RESPONSE_PATTERN = r"^([Aa][Bb][Oo][Rr][Tt]|[Ww][Aa][Rr][Nn])?$"


def _string(**extra) -> dict:
    return {"type": "string", **extra}


def _boolean() -> dict:
    return {"type": "boolean"}


def _count() -> dict:
    """A non-negative int64 (limits)."""
    return {"type": "integer", "format": "int64", "minimum": 0}


def _duration(**extra) -> dict:
    return _string(pattern=DURATION_PATTERN, **extra)


def _int_or_string() -> dict:
    # Structural form for the API server; anyOf for jsonschema, which ignores x- keys.
    return {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}


def _strings() -> dict:
    return {"type": "array", "items": _string()}


def _string_map() -> dict:
    return {"type": "object", "additionalProperties": _string()}


def _object(properties: dict, *, required: tuple[str, ...] = (), **extra) -> dict:
    node = {"type": "object", "properties": properties, **extra}
    if required:
        node["required"] = list(required)
    return node


def _label_selector() -> dict:
    """Kubernetes' metav1.LabelSelector."""
    requirement = _object(
        {
            "key": _string(),
            "operator": _string(enum=["In", "NotIn", "Exists", "DoesNotExist"]),
            "values": {**_strings(), "x-kubernetes-list-type": "atomic"},
        },
        required=("key", "operator"),
    )
    return _object(
        {
            "matchLabels": _string_map(),
            "matchExpressions": {"type": "array", "items": requirement, "x-kubernetes-list-type": "atomic"},
        },
        **{"x-kubernetes-map-type": "atomic"},
    )


def _relabel_config() -> dict:
    return _object(
        {
            "sourceLabels": _strings(),
            "separator": _string(),
            "targetLabel": _string(),
            "regex": _string(),
            "modulus": _count(),
            "replacement": _string(),
            "action": _string(enum=RELABEL_ACTIONS),
        }
    )


def _endpoint() -> dict:
    return _object(
        {
            "port": _string(),
            "targetPort": _int_or_string(),
            "path": _string(),
            "scheme": _string(enum=SCHEMES),
            "params": {"type": "object", "additionalProperties": _strings()},
            "interval": _duration(),
            "scrapeTimeout": _duration(),
            "honorLabels": _boolean(),
            "honorTimestamps": _boolean(),
            "trackTimestampsStaleness": _boolean(),
            "followRedirects": _boolean(),
            "enableHttp2": _boolean(),
            "filterRunning": _boolean(),
            "relabelings": {"type": "array", "items": _relabel_config()},
            "metricRelabelings": {"type": "array", "items": _relabel_config()},
        }
    )


def _service_monitor_spec() -> dict:
    return _object(
        {
            "jobLabel": _string(),
            "targetLabels": _strings(),
            "podTargetLabels": _strings(),
            "endpoints": {"type": "array", "items": _endpoint()},
            "selector": _label_selector(),
            "selectorMechanism": _string(enum=["RelabelConfig", "RoleSelector"]),
            "namespaceSelector": _object({"any": _boolean(), "matchNames": _strings()}),
            "sampleLimit": _count(),
            "targetLimit": _count(),
            "labelLimit": _count(),
            "labelNameLengthLimit": _count(),
            "labelValueLengthLimit": _count(),
            "keepDroppedTargets": _count(),
            "attachMetadata": _object({"node": _boolean()}),
            "scrapeClass": _string(minLength=1),
        },
        required=("endpoints", "selector"),
    )


def _prometheus_rule_spec() -> dict:
    rule = _object(
        {
            "record": _string(),
            "alert": _string(),
            "expr": _int_or_string(),
            "for": _duration(),
            "keep_firing_for": _duration(minLength=1),
            "labels": _string_map(),
            "annotations": _string_map(),
        },
        required=("expr",),
    )
    group = _object(
        {
            "name": _string(minLength=1),
            "labels": _string_map(),
            "interval": _duration(),
            "query_offset": _duration(),
            "rules": {"type": "array", "items": rule},
            "partial_response_strategy": _string(pattern=PARTIAL_RESPONSE_PATTERN),
            "limit": {"type": "integer"},
        },
        required=("name",),
    )
    groups = {
        "type": "array",
        "items": group,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
    }
    return _object({"groups": groups})


# kind -> (plural, short name, spec schema builder)
_KINDS = {
    "ServiceMonitor": ("servicemonitors", "smon", _service_monitor_spec),
    "PrometheusRule": ("prometheusrules", "promrule", _prometheus_rule_spec),
}
KINDS = tuple(_KINDS)


def schema(kind: str) -> dict:
    """The openAPIV3Schema of ``kind``: a structural schema, usable by jsonschema and the API server."""
    *_, spec = _KINDS[kind]
    return _object(
        {
            "apiVersion": _string(),
            "kind": _string(),
            "metadata": {"type": "object"},
            "spec": spec(),
        },
        required=("spec",),
    )


def crd(kind: str) -> dict:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition of ``kind`` (built afresh each call)."""
    plural, short_name, _ = _KINDS[kind]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "annotations": {SCHEMA_NOTE_KEY: SCHEMA_NOTE},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short_name],
                "categories": ["prometheus-operator"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema(kind)},
                }
            ],
        },
    }


def crds() -> list[dict]:
    """Both CRDs, as a cluster with prometheus-operator has them (for the API-server tests)."""
    return [crd(kind) for kind in KINDS]
