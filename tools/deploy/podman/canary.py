"""A canary's window on podman: its own /metrics, read on its own loopback port, judged by
tools.deploy.canary against the environment's ``canary`` policy."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from tools.deploy.canary import NoRequestMetrics, breach, counts
from tools.deploy.podman.play import published
from tools.deploy.podman.pods import Pods
from tools.deploy.target import say
from tools.k8s.schema.environments import CanaryPolicy
from tools.k8s.schema.runtime_metrics import RuntimeMetrics


def metrics_text(canary: list[dict]) -> str:
    """The canary pod's /metrics (its ``metrics`` port if it has one, else ``http``)."""
    ports = published(canary)
    port = ports.get("metrics") or ports["http"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def watch(
    pods: Pods,
    model: str,
    canary: list[dict],
    policy: CanaryPolicy,
    vocabulary: RuntimeMetrics,
    poll: float = 1.0,
) -> str | None:
    """Watches the canary for ``policy.windowSeconds``, counting requests and errors as the
    runtime's ``vocabulary`` does; the threshold it breached (with the measured value), or None
    to promote it. A canary that stops being ready, or whose metrics cannot be read, is a breach."""
    try:
        start = counts(metrics_text(canary), vocabulary)
    except (urllib.error.URLError, OSError, NoRequestMetrics) as error:
        return f"its /metrics could not be read: {error}"
    opened = time.monotonic()
    next_report = 10.0
    while True:
        time.sleep(poll)
        waited = time.monotonic() - opened
        final = waited >= policy.windowSeconds
        if not pods.status(model, canary).ready:
            return f"it stopped being ready after {waited:.0f} s"
        try:
            window = counts(metrics_text(canary), vocabulary) - start
        except (urllib.error.URLError, OSError, NoRequestMetrics) as error:
            return f"its /metrics could not be read: {error}"
        found = breach(window, policy, final=final)
        if found or final:
            say(
                f"{model}: canary answered {window.requests:.0f} request(s), {window.errors:.0f} error(s), "
                f"in {waited:.0f} s"
            )
            return found
        if waited >= next_report:
            say(
                f"{model}: canary window {waited:.0f}s of {policy.windowSeconds:g}s: "
                f"{window.requests:.0f} request(s), {window.errors:.0f} error(s)"
            )
            next_report += 10
