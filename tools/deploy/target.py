"""The one interface every place a model can run implements: a Kubernetes cluster or podman here.

A ``Target`` is opened once per command by ``tools.deploy.open_target`` (the only place that
looks at the environment's cluster kind), holds one connected client for its whole life (a
checked API server connection; the podman command line with its configuration) and is closed by
``with``. Its verbs act on a ``Release`` (tools.deploy.release): the objects already loaded and
rendered for one model in this environment, never a name to load again.

Adding a verb means adding an abstract method here and implementing it in
``tools/deploy/kubernetes/target.py`` and ``tools/deploy/podman/target.py``. ``history`` and
``rollback`` have defaults that refuse, so a new kind of target works before it records
revisions; ``preflight`` (can this target run the release at all?) defaults to nothing to check.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from tools.deploy.release import Release
from tools.deploy.revision import Revision
from tools.errors import UserError
from tools.k8s.schema.environments import Environment


def say(line: str) -> None:
    """Progress for people (stderr, indented); stdout carries only the verbs' results."""
    print(f"  {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Applied:
    """What ``apply`` did: whether anything changed (or would, with dry_run), and lines to print."""

    changed: bool
    report: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)  # what the release runs, pinned by digest


@dataclass(frozen=True)
class Status:
    """A deployed model: ready or not, printable lines, and its URL where the target knows one."""

    ready: bool
    lines: list[str]
    endpoint: str | None = None
    details: dict = field(default_factory=dict)  # JSON-ready, for ``status -o json``


class Target(ABC):
    """Where one environment's models run. Use as a context manager; every verb takes a Release."""

    env: Environment

    def __enter__(self) -> Target:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - a target with nothing to release needs no override
        """Releases the connected client."""

    @abstractmethod
    def apply(
        self,
        release: Release,
        *,
        dry_run: bool = False,
        timeout: float = 300,
        wait: bool = True,
        canary: int | None = None,
    ) -> Applied:
        """Makes the target run exactly ``release`` (resolved), pruning what it no longer renders.
        ``canary`` (1-99): first beside the serving version with about that share of requests,
        judged by its own /metrics over the environment's ``canary`` window, then promoted, or
        removed with a UserError naming the threshold it breached."""

    @abstractmethod
    def diff(self, release: Release) -> str:
        """What ``apply`` would change, printable; empty when nothing would."""

    @abstractmethod
    def delete(self, release: Release, *, dry_run: bool = False) -> list[str]:
        """Removes exactly this model's objects; returns what was (or would be) removed."""

    @abstractmethod
    def status(self, release: Release) -> Status:
        """Ready or not, what runs (image digests) and where to reach it."""

    @abstractmethod
    def endpoint(self, release: Release) -> str:
        """The model's base URL from here, or a UserError saying how to reach it instead."""

    def preflight(self, release: Release) -> None:  # noqa: B027 - nothing to check by default
        """Raises a UserError naming the environment field when the target cannot run ``release``
        (Kubernetes: no node for its GPU pods); runs before anything is built, pushed or applied."""

    def history(self, release: Release) -> list[Revision]:
        """The model's recorded revisions, oldest first."""
        raise UserError(f"{self.env.name}: history is not kept for this kind of environment yet")

    def rollback(self, release: Release, *, to: int | None = None, timeout: float = 300) -> Revision:
        """Applies an earlier recorded revision again (default: the one before the latest); the
        revision this records."""
        raise UserError(f"{self.env.name}: rollback is not available for this kind of environment yet")
