"""One model in one environment, loaded and rendered once, then handed to a Target.

The same steps whatever the target: images built and pushed when out of date, manifests resolved
with digests (tools.k8s.render.resolve), then the Release given to the environment's Target
(tools.deploy.target). Everything that can fail on the user's input (unknown model or
environment, no digest, no kubeconfig, a registry that is down) fails before anything changes:
the CLI opens the target (and so checks the cluster answers) before anything is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from tools.deploy.release import Release
from tools.deploy.target import Applied, Status, Target, say
from tools.errors import UserError
from tools.k8s.render import render_inputs
from tools.k8s.render.inputs import RenderInputs, load_inputs
from tools.k8s.render.resolve import resolve_documents
from tools.k8s.schema.environments import Environment
from tools.labels import Label
from tools.paths import REPO_ROOT


class Deploy:
    """A model's loaded inputs and its objects, rendered once; digests given on the command line.

    Args:
        inputs: model.yaml, its runtime, the environment and platform.yaml, loaded and checked.
        digests: image label -> ``sha256:<hex>`` for images built elsewhere (Bazel, CI).
    """

    def __init__(self, inputs: RenderInputs, digests: Mapping[str, str] | None = None):
        self.inputs = inputs
        self.digest_overrides = {str(Label.parse(k)): v for k, v in (digests or {}).items()}
        self.objects = render_inputs(inputs)  # the runtime's config hook runs here, once

    @classmethod
    def load(
        cls, model: str, env: str, digests: Mapping[str, str] | None = None, *, root: Path = REPO_ROOT
    ) -> Deploy:
        """Loads and checks every input of ``model`` in ``env`` (a UserError naming the file if bad)."""
        return cls(load_inputs(model, env, root=root), digests)

    @property
    def model(self) -> str:
        """The model's name."""
        return self.inputs.name

    @property
    def env(self) -> Environment:
        """The environment, loaded and checked."""
        return self.inputs.env

    def image_labels(self) -> list[Label]:
        """The images the model's manifests name: the variant of model.yaml's ``images`` the
        environment's device picks (a CPU environment never builds or pushes the GPU image), then
        any other its pods run (a signature verifier image, runtime.yaml ``modelSignature.staged``)."""
        labels = [self.inputs.image_label]
        for obj in self.objects:
            if obj.get("kind") != "Deployment":
                continue
            pod = obj["spec"]["template"]["spec"]
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
        from tools.oci.push import push_image, read_pushed, tls_from_environment

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
            result = push_image(label, self.env.registry, **tls_from_environment(self.env.registryTLS))
            say(
                f"{label}: pushed {result.blobs_sent}/{result.blobs_total} blobs, "
                f"{result.bytes_sent / 1e6:.1f} of {result.bytes_total / 1e6:.1f} MB -> {result.reference}"
            )
        return digests

    # -- releases --------------------------------------------------------------------------------

    def release(self, digests: Mapping[str, str] | None = None) -> Release:
        """The objects with every image pinned by digest (``digests``, then the overrides, then
        the digest files the builds wrote)."""
        pinned = {**self.digest_overrides, **(digests or {})}
        objects = resolve_documents(self.objects, self.env.registry, pinned)
        return Release(self.inputs, objects, pinned)

    def unresolved(self) -> Release:
        """The objects with images still as labels: delete and status need no digest or build."""
        return Release(self.inputs, self.objects)

    # -- the verbs -------------------------------------------------------------------------------

    def apply(
        self,
        target: Target,
        *,
        build: bool = True,
        dry_run: bool = False,
        timeout: float = 300,
        wait: bool = True,
        preflight: bool = True,
        canary: int | None = None,
    ) -> Applied:
        """Asks the target whether it can run the model at all (unless ``preflight`` is off), then
        builds and pushes (unless ``build`` is off), resolves and applies; waits for ready.
        ``canary``: the percentage of requests the new version gets while it is judged (Target)."""
        if canary is not None and not 1 <= canary <= 99:
            raise UserError(f"--canary takes a percentage from 1 to 99, got {canary}")
        if canary is not None and (dry_run or not wait):
            raise UserError("--canary is judged while apply waits; it cannot go with --dry-run or --no-wait")
        if preflight:
            # Before the build: a cluster that can never run the GPU pods is known in a second,
            # not after a multi-GB CUDA image is built and pushed. Labels suffice (no digests).
            target.preflight(self.unresolved())
        elif self.env.gpu_resource(self.model):
            say(f"GPU preflight skipped: nothing checked that {self.env.name} can schedule {self.model}")
        digests = self.build_and_push(push=not dry_run) if build else {}
        # Signature, SBOM, provenance and licences (tools/supply), before anything is changed.
        from tools.supply.gate import enforce

        enforce(self.env, digests or self.digest_overrides, push=not dry_run)
        release = self.release(digests)
        applied = target.apply(release, dry_run=dry_run, timeout=timeout, wait=wait, canary=canary)
        return replace(applied, images=release.images())

    def diff(self, target: Target) -> str:
        """What apply would change against what is live (images built, not pushed)."""
        return target.diff(self.release(self.build_and_push(push=False)))

    def delete(self, target: Target, *, dry_run: bool = False) -> list[str]:
        """Removes exactly this model's objects from the target (no build, no digests)."""
        return target.delete(self.unresolved(), dry_run=dry_run)

    def status(self, target: Target) -> Status:
        """Ready or not, what runs and where, from the target."""
        return target.status(self.unresolved())

    def endpoint(self, target: Target) -> str:
        """The model's base URL from here (podman), or a UserError saying how to reach it."""
        return target.endpoint(self.unresolved())
