"""The Target for ``cluster.kind: kubernetes`` environments: lightkube against a real API server."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from tools.deploy.kubernetes import operations, preflight, revisions
from tools.deploy.kubernetes.canary import judge
from tools.deploy.kubernetes.client import Cluster, connect
from tools.deploy.release import Release
from tools.deploy.revision import Revision
from tools.deploy.target import Applied, Status, Target, say
from tools.errors import UserError
from tools.k8s.schema.environments import Environment


class KubernetesTarget(Target):
    """One environment's cluster, through one checked connection made when the target opens."""

    def __init__(self, env: Environment, cluster: Cluster):
        self.env = env
        self.cluster = cluster

    @classmethod
    def connect(cls, env: Environment, kubeconfig: str | Path | None = None) -> KubernetesTarget:
        """Reads the kubeconfig (the environment's context) and checks the server answers."""
        return cls(env, connect(kubeconfig, env.cluster.context))

    def close(self) -> None:
        """Closes the connection."""
        self.cluster.close()

    def __exit__(self, kind, error, traceback) -> None:
        # The connection turns a lost server or an unhandled refusal into one clear line.
        self.cluster.__exit__(kind, error, traceback)

    def preflight(self, release: Release) -> None:
        # Nodes advertising the GPU/MIG resources, labels, taints, RuntimeClass (preflight.py).
        preflight.check(self.cluster, release)

    def apply(
        self,
        release: Release,
        *,
        dry_run: bool = False,
        timeout: float = 300,
        wait: bool = True,
        canary: int | None = None,
    ) -> Applied:
        if canary is not None:
            policy, model, vocabulary = self.env.canary, release.model, release.inputs.metrics
            objects = release.objects
            found = judge(self.cluster, objects, canary, policy, vocabulary, timeout=timeout, progress=say)
            if found:
                raise UserError(f"{model}: canary rolled back, {found}; the stable Deployment serves on")
            say(f"{release.model}: canary promoted; rolling the stable Deployment to it")
        if dry_run or not wait:
            changes = operations.apply(self.cluster, release.objects, dry_run=dry_run, progress=say)
            changed = any(c.action != "unchanged" for c in changes)
            return Applied(changed, [str(c) for c in changes] if dry_run else [])
        changed = bool(operations.diff(self.cluster, release.objects))
        # Recorded once ready; rolled back to the last good revision when not (revisions.py).
        revisions.apply_recorded(
            self.cluster, release.model, release.objects, release.digests or {}, timeout=timeout, progress=say
        )
        return Applied(changed)

    def history(self, release: Release) -> list[Revision]:
        history = revisions.History(self.cluster, release.model, revisions.namespace_of(release.objects))
        return history.revisions()

    def rollback(self, release: Release, *, to: int | None = None, timeout: float = 300) -> Revision:
        namespace = revisions.namespace_of(release.objects)
        model = release.model
        return revisions.rollback(self.cluster, model, namespace, to=to, timeout=timeout, progress=say)

    def diff(self, release: Release) -> str:
        return "\n".join(str(c) for c in operations.diff(self.cluster, release.objects))

    def delete(self, release: Release, *, dry_run: bool = False) -> list[str]:
        changes = operations.delete(self.cluster, release.objects, dry_run=dry_run, progress=say)
        return [str(c) for c in changes]

    def status(self, release: Release) -> Status:
        current = operations.status(self.cluster, release.objects)
        lines = [str(d) for d in current.deployments] + [str(s) for s in current.services]
        details = {
            "deployments": [asdict(d) for d in current.deployments],
            "services": [asdict(s) for s in current.services],
        }
        return Status(current.ready, lines or [f"{release.model}: not deployed"], details=details)

    def endpoint(self, release: Release) -> str:
        raise UserError(
            f"{self.env.name} is a Kubernetes environment: reach the model through its Service "
            "(kubectl port-forward) and pass --url"
        )
