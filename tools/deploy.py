"""The deploy verbs (apply, diff, delete, status) for one model in one environment.

The same steps whatever the target: images built and pushed when out of date, manifests resolved
with digests (tools.k8s.resolve), then handed to the environment's cluster kind: a Kubernetes API
server (tools.k8s.cluster, lightkube server-side apply) or this machine's podman
(tools.k8s.local). Everything that can fail on the user's input (unknown model or environment,
no digest, no kubeconfig, a registry that is down) fails before anything is changed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from tools.errors import UserError
from tools.k8s import resolve as resolving
from tools.k8s.environments import Environment, load_environment
from tools.k8s.render import render
from tools.labels import Label
from tools.paths import REPO_ROOT

log = logging.getLogger(__name__)


def say(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


@dataclass
class Deploy:
    """One model in one environment, with the image digests given on the command line (if any)."""

    model: str
    env: Environment
    digest_overrides: dict[str, str]

    @classmethod
    def load(cls, model: str, env: str, digests: Mapping[str, str] | None = None) -> Deploy:
        """``digests``: image label -> ``sha256:<hex>`` for images built elsewhere (Bazel)."""
        environment = load_environment(env)
        if model not in environment.models:
            known = ", ".join(sorted(environment.models))
            raise UserError(f"unknown model {model!r} (known: {known})", field="models")
        return cls(model=model, env=environment, digest_overrides=dict(digests or {}))

    @property
    def is_local(self) -> bool:
        return self.env.cluster.kind == "podman"

    def image_labels(self) -> list[Label]:
        """The image labels the model's manifests name, in the order they appear."""
        labels: list[Label] = []
        for doc in render(self.model, self.env.name):
            if doc.get("kind") != "Deployment":
                continue
            pod = doc["spec"]["template"]["spec"]
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                label = Label.parse(container["image"])
                if label not in labels:
                    labels.append(label)
        return labels

    # -- images ----------------------------------------------------------------------------------

    def ensure_registry(self) -> None:
        """Starts the repo's own registry when the environment's registry is the loopback one."""
        host, _, port = self.env.registry.split("/", 1)[0].partition(":")
        if host not in ("127.0.0.1", "localhost"):
            return
        from tools.oci import registry

        registry.start(port=int(port or 80))

    def build_and_push(self, *, push: bool = True) -> dict[str, str]:
        """Builds (cached) and pushes (skipping what the registry has) every image; label -> digest."""
        from tools.oci.builder import build_image
        from tools.oci.push import push_image, read_pushed

        digests = {}
        if push:
            self.ensure_registry()
        for label in self.image_labels():
            if str(label) in self.digest_overrides:
                digests[str(label)] = self.digest_overrides[str(label)]
                continue
            built = build_image(label)
            digests[str(label)] = built.digest
            if not push:
                continue
            record = read_pushed(label) or {}
            if record.get("digest") == built.digest and record.get("registry") == self.env.registry:
                say(f"{label}: {built.digest[:19]} already in {self.env.registry}")
                continue
            result = push_image(label, self.env.registry)
            say(
                f"{label}: pushed {result.blobs_sent}/{result.blobs_total} blobs, "
                f"{result.bytes_sent / 1e6:.1f} of {result.bytes_total / 1e6:.1f} MB -> {result.reference}"
            )
        return digests

    def resolve(self, digests: Mapping[str, str] | None = None) -> list[dict]:
        return resolving.resolve(self.model, self.env.name, {**self.digest_overrides, **(digests or {})})

    # -- targets ---------------------------------------------------------------------------------

    def local_target(self):
        from tools.k8s.local import PodmanTarget

        return PodmanTarget(self.env.name)

    def played(self, objects: list[dict]) -> list[dict]:
        return self.local_target().playable(objects, self.env.models[self.model].hostPorts)


def apply(
    deploy: Deploy,
    *,
    build: bool = True,
    dry_run: bool = False,
    timeout: float = 300,
    wait: bool = True,
    kubeconfig: str | None = None,
) -> bool:
    """Applies the model; returns True when something changed (or would, with dry_run)."""
    if not deploy.is_local:
        from tools.k8s import cluster

        cluster.connect(kubeconfig, deploy.env.cluster.context).close()  # fail before building
    digests = deploy.build_and_push(push=not dry_run) if build else {}
    from tools.supply.gate import enforce  # signature, SBOM, provenance, licences; before any change

    enforce(deploy.env, digests or deploy.digest_overrides, push=not dry_run)
    objects = deploy.resolve(digests)
    if deploy.is_local:
        target = deploy.local_target()
        played = deploy.played(objects)
        if dry_run:
            changes = target.diff(deploy.model, played)
            print(changes or f"{deploy.model}: no changes")
            return bool(changes)
        changed = target.apply(deploy.model, played, timeout=timeout)
        for line in target.status(deploy.model, played).lines():
            print(line)
        return changed
    from tools.k8s import cluster

    context = deploy.env.cluster.context
    changes = cluster.apply(objects, kubeconfig=kubeconfig, context=context, dry_run=dry_run, progress=say)
    changed = any(c.action != "unchanged" for c in changes)
    if dry_run:
        for change in changes:
            print(change)
        return changed
    if wait:
        cluster.wait_ready(objects, kubeconfig=kubeconfig, context=context, timeout=timeout, progress=say)
    return changed


def diff(deploy: Deploy, *, kubeconfig: str | None = None) -> str:
    """What apply would change against what is live; empty when nothing would."""
    if not deploy.is_local:
        from tools.k8s import cluster

        cluster.connect(kubeconfig, deploy.env.cluster.context).close()  # fail before building
    objects = deploy.resolve(deploy.build_and_push(push=False))
    if deploy.is_local:
        return deploy.local_target().diff(deploy.model, deploy.played(objects))
    from tools.k8s import cluster

    changes = cluster.diff(objects, kubeconfig=kubeconfig, context=deploy.env.cluster.context)
    return "\n".join(str(c) for c in changes)


def delete(deploy: Deploy, *, kubeconfig: str | None = None, dry_run: bool = False) -> list[str]:
    """Removes exactly this model's objects from the environment; returns what was removed."""
    if deploy.is_local:
        if dry_run:
            record = deploy.local_target().applied(deploy.model)
            return [f"pod of {deploy.model}"] if record else []
        return deploy.local_target().delete(deploy.model)
    from tools.k8s import cluster
    from tools.k8s.inputs import load_inputs
    from tools.k8s.render import render_inputs

    # Labels and namespace from the rendering: delete needs no image digests.
    objects = render_inputs(load_inputs(deploy.model, deploy.env.name, root=REPO_ROOT))
    changes = cluster.delete(
        objects, kubeconfig=kubeconfig, context=deploy.env.cluster.context, dry_run=dry_run, progress=say
    )
    return [str(c) for c in changes]


def status(deploy: Deploy, *, kubeconfig: str | None = None) -> tuple[bool, list[str]]:
    """(ready, printable lines) for the deployed model."""
    if deploy.is_local:
        current = deploy.local_target().status(deploy.model)
        return current.ready, current.lines()
    from tools.k8s import cluster
    from tools.k8s.inputs import load_inputs
    from tools.k8s.render import render_inputs

    objects = render_inputs(load_inputs(deploy.model, deploy.env.name, root=REPO_ROOT))
    current = cluster.status(objects, kubeconfig=kubeconfig, context=deploy.env.cluster.context)
    lines = [str(d) for d in current.deployments] + [str(s) for s in current.services]
    return current.ready, lines or [f"{deploy.model}: not deployed"]


def endpoint(deploy: Deploy) -> str:
    """The base URL of a model deployed on `local` (clusters need a port-forward or ingress)."""
    if not deploy.is_local:
        raise UserError(
            f"{deploy.env.name} is a Kubernetes environment: reach the model through its Service "
            "(kubectl port-forward) and pass --url"
        )
    current = deploy.local_target().status(deploy.model)
    if not current.pods or not current.endpoint:
        raise UserError(
            f"{deploy.model} is not running on {deploy.env.name} (run: ./dev apply {deploy.model})"
        )
    return current.endpoint
