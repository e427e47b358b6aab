"""Judging a canary by its own /metrics: the same decision on every kind of target.

A target reads the canary's metrics text (podman: its own loopback port; Kubernetes: the API
server's pod proxy) when the window opens and again as it goes; this module parses the text with
prometheus-client's parser and says whether a threshold of the environment's ``canary`` policy
(tools/k8s/schema/environments.py) is breached. What counts as a request and as an error is the
runtime's own ``requests`` and ``errors`` in ``runtimes/<r>/observability.yaml`` (the platform's
metric vocabulary, tools/k8s/schema/runtime_metrics.py): each ``rate(METRIC{$selector, ...}[$window])``
term there is read as the sum of METRIC's samples its label matchers select, so the fastapi
runtime's probes (/ready, /metrics) and 4xx answers are left out exactly as its alerts leave them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from tools.k8s.schema.environments import CanaryPolicy
from tools.k8s.schema.runtime_metrics import RuntimeMetrics

_TERM = re.compile(
    r'rate\(\s*([A-Za-z_:][\w:]*)\{\$selector\s*(?:,((?:[^}"]|"(?:[^"\\]|\\.)*")*))?\}\[\$window\]\)'
)
_MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


@dataclass(frozen=True)
class Series:
    """One ``METRIC{matchers}`` of a vocabulary template."""

    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value)

    def selects(self, name: str, labels: dict[str, str]) -> bool:
        # prometheus-client's parser names every counter sample <family>_total, also when the
        # server wrote it without the suffix (Triton's nv_inference_request_success).
        if name not in (self.metric, f"{self.metric}_total"):
            return False
        for label, op, value in self.matchers:
            have = labels.get(label, "")
            if op in ("=~", "!~"):
                found = re.fullmatch(value, have) is not None  # PromQL regexes are anchored
                if found != (op == "=~"):
                    return False
            elif (have == value) != (op == "="):
                return False
        return True


def series_of(template: str) -> list[Series]:
    """The ``rate(METRIC{$selector, ...}[$window])`` terms of a vocabulary template (summed)."""
    found = []
    for metric, matchers in _TERM.findall(template):
        parsed = tuple(
            (label, op, value.encode().decode("unicode_escape"))  # PromQL string escapes, as Go's
            for label, op, value in _MATCHER.findall(matchers or "")
        )
        found.append(Series(metric, parsed))
    if not found:
        raise ValueError(f"no rate(METRIC{{$selector, ...}}[$window]) term in {template!r}")
    return found


@dataclass(frozen=True)
class Counts:
    """Requests answered so far and how many of them were errors, as the runtime counts them."""

    requests: float
    errors: float

    def __sub__(self, earlier: Counts) -> Counts:
        return Counts(self.requests - earlier.requests, self.errors - earlier.errors)

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.requests + other.requests, self.errors + other.errors)


class NoRequestMetrics(Exception):
    """The metrics text has none of the series the runtime counts requests with."""


def counts(metrics_text: str, vocabulary: RuntimeMetrics) -> Counts:
    """The requests and errors in one scrape, by the runtime's ``requests`` and ``errors``."""
    requests, errors = series_of(vocabulary.requests), series_of(vocabulary.errors)
    wanted = {s.metric for s in requests}
    seen, n_requests, n_errors = False, 0.0, 0.0
    for family in text_string_to_metric_families(metrics_text):
        if wanted & {family.name, f"{family.name}_total"}:
            seen = True  # a counter with no answers yet has its family and no samples
        for sample in family.samples:
            n_requests += sum(sample.value for s in requests if s.selects(sample.name, sample.labels))
            n_errors += sum(sample.value for s in errors if s.selects(sample.name, sample.labels))
    if not seen:
        raise NoRequestMetrics(f"none of {', '.join(sorted(wanted))} in the canary's metrics")
    return Counts(n_requests, n_errors)


def breach(window: Counts, policy: CanaryPolicy, *, final: bool) -> str | None:
    """The threshold ``window`` (the canary's counts since the window opened) breaches, or None.
    Before the window ends (``final`` false) only an error ratio already over the limit on at
    least ``minRequests`` requests is a breach; at its end too few requests is one as well."""
    if window.requests >= max(policy.minRequests, 1):
        ratio = window.errors / window.requests
        if ratio > policy.maxErrorRatio:
            return (
                f"maxErrorRatio {policy.maxErrorRatio:g} breached: {ratio:.3f} "
                f"({window.errors:.0f} of {window.requests:.0f} requests were errors)"
            )
    if final and window.requests < policy.minRequests:
        return (
            f"minRequests {policy.minRequests} not reached: the canary answered "
            f"{window.requests:.0f} request(s) in {policy.windowSeconds:g} s"
        )
    return None
