"""Judging a canary by its own /metrics: the same decision on every kind of target.

A target reads the canary's metrics text (podman: its own loopback port; Kubernetes: the API
server's pod proxy) at the start of the window and again as it goes; this module parses the text
with prometheus-client's parser and says whether a threshold of the environment's ``canary``
policy (tools/k8s/schema/environments.py) is breached. Counted: the fastapi runtime's
``model_server_requests_total`` (runtimes/fastapi/metrics.py), without the probe and metrics
routes, so only what clients asked counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from tools.k8s.schema.environments import CanaryPolicy

REQUESTS = "model_server_requests"  # the family; its samples are model_server_requests_total
NOT_TRAFFIC = {"/ready", "/health", "/metrics", "/v2/health/live", "/v2/health/ready"}


@dataclass(frozen=True)
class Counts:
    """Requests answered so far and how many of them were server errors (5xx)."""

    requests: float
    errors: float

    def __sub__(self, earlier: Counts) -> Counts:
        return Counts(self.requests - earlier.requests, self.errors - earlier.errors)


class NoRequestMetrics(Exception):
    """The metrics text has no request counter this module can judge."""


def counts(metrics_text: str) -> Counts:
    """The client requests and 5xx answers in one scrape of the fastapi runtime's /metrics."""
    requests = errors = 0.0
    found = False
    for family in text_string_to_metric_families(metrics_text):
        if family.name != REQUESTS:
            continue
        found = True
        for sample in family.samples:
            if not sample.name.endswith("_total") or sample.labels.get("route") in NOT_TRAFFIC:
                continue
            requests += sample.value
            if sample.labels.get("status", "").startswith("5"):
                errors += sample.value
    if not found:
        raise NoRequestMetrics(f"no {REQUESTS}_total in the canary's metrics")
    return Counts(requests, errors)


def breach(window: Counts, policy: CanaryPolicy, *, final: bool) -> str | None:
    """The threshold ``window`` (the canary's counts since the window opened) breaches, or None.
    Before the window ends (``final`` false) only an error ratio already over the limit on at
    least ``minRequests`` requests is a breach; at its end too few requests is one as well."""
    if window.requests >= max(policy.minRequests, 1):
        ratio = window.errors / window.requests
        if ratio > policy.maxErrorRatio:
            return (
                f"maxErrorRatio {policy.maxErrorRatio:g} breached: {ratio:.3f} "
                f"({window.errors:.0f} of {window.requests:.0f} requests answered 5xx)"
            )
    if final and window.requests < policy.minRequests:
        return (
            f"minRequests {policy.minRequests} not reached: the canary answered "
            f"{window.requests:.0f} request(s) in {policy.windowSeconds:g} s"
        )
    return None
