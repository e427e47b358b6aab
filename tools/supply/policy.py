"""The supply-chain gate: what ``apply`` demands of each image, per environment (data in
platform/supply-chain.yaml), and the licence report and policy.

``enforce`` is the one call ``apply`` makes: for a staging/prod image it attests and signs the
image with the environment's key when that key is at hand, pushes the referrers beside the image,
then verifies, from the layout and with the environment's public key, that the image has a valid
signature naming ``registry/repository``, a signed, valid and complete SBOM, signed SLSA
provenance about this digest, and no licence that needs a decision the environment has not taken.
Anything missing fails in one line that names every missing piece, before anything is applied.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from tools.errors import UserError
from tools.labels import Label, image_repository
from tools.paths import REPO_ROOT
from tools.yamlio import load_yaml, pydantic_error

POLICY_FILE = REPO_ROOT / "platform" / "supply-chain.yaml"


def policy_file() -> Path:
    """platform/supply-chain.yaml, or the file CF_SUPPLY_CHAIN_FILE names (tests, forks)."""
    return Path(os.environ.get("CF_SUPPLY_CHAIN_FILE") or POLICY_FILE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LicencePolicy(_Strict):
    needDecision: list[str] = []
    undeclaredModels: Literal["needDecision", "allow"] = "needDecision"


class SigningKey(_Strict):
    pathEnv: str
    passphraseEnv: str


class AcceptedLicence(_Strict):
    component: str  # a package name or an artifact's image path
    licence: str
    reason: str


class ModelSigning(_Strict):
    """The one key that signs model weights for every environment (tools/supply/models.py)."""

    publicKey: str | None = None  # relative to the policy file
    signingKey: SigningKey | None = None


class EnvironmentPolicy(_Strict):
    skipChecks: bool = False
    publicKey: str | None = None
    signingKey: SigningKey | None = None
    acceptLicences: list[AcceptedLicence] = []


class SupplyChainPolicy(_Strict):
    licences: LicencePolicy = LicencePolicy()
    models: ModelSigning = ModelSigning()
    # An environment not listed takes the default of its cluster kind (podman, kubernetes).
    defaults: dict[str, EnvironmentPolicy] = {}
    environments: dict[str, EnvironmentPolicy] = {}


def load_policy(path: Path | None = None) -> SupplyChainPolicy:
    return _load_policy(path or policy_file())


@functools.cache
def _load_policy(path: Path) -> SupplyChainPolicy:
    try:
        return SupplyChainPolicy.model_validate(load_yaml(path) or {})
    except ValidationError as error:
        raise pydantic_error(error, file=path) from None


def environment_policy(
    env: str, path: Path | None = None, cluster_kind: str | None = None
) -> EnvironmentPolicy:
    path = path or policy_file()
    loaded = load_policy(path)
    policy = loaded.environments.get(env) or loaded.defaults.get(cluster_kind or "")
    if policy is None:
        raise UserError(f"no supply-chain policy for environment {env!r}", file=path, field="environments")
    return policy


def public_key(env: str, path: Path | None = None):
    path = path or policy_file()
    from tools.supply import keys

    policy = environment_policy(env, path)
    field = f"environments.{env}.publicKey"
    if not policy.publicKey:
        raise UserError("no public key named: images cannot be verified", file=path, field=field)
    key_path = path.parent / policy.publicKey
    if not key_path.exists():
        raise UserError(
            f"public key {policy.publicKey} is missing: add the environment's public key "
            "(platform/keys/README.md)",
            file=path,
            field=field,
        )
    return keys.load_public(key_path)


def model_public_key(path: Path | None = None) -> Path:
    """The PEM that verifies model signatures (``models.publicKey``), which must exist."""
    path = path or policy_file()
    named = load_policy(path).models.publicKey
    if not named:
        raise UserError(
            "no public key named: model signatures cannot be verified", file=path, field="models.publicKey"
        )
    key_path = path.parent / named
    if not key_path.is_file():
        raise UserError(
            f"public key {named} is missing: add the public half of the model signing key "
            "(platform/keys/README.md)",
            file=path,
            field="models.publicKey",
        )
    return key_path


def signing_material(env: str, label: Label, path: Path | None = None, registry: str | None = None):
    """(private key, [identities]) for signing ``label`` for ``env``; errors say which variable is unset."""
    path = path or policy_file()
    from tools.k8s.schema.environments import load_environment
    from tools.supply import keys

    policy = environment_policy(env, path)
    if policy.signingKey is None:
        raise UserError("no signing key configured", file=path, field=f"environments.{env}.signingKey")
    key_file = os.environ.get(policy.signingKey.pathEnv)
    if not key_file:
        raise UserError(
            f"signing key missing: set {policy.signingKey.pathEnv} to the private key file "
            f"(and {policy.signingKey.passphraseEnv} to its passphrase)",
            file=path,
            field=f"environments.{env}.signingKey",
        )
    key = keys.load_private(Path(key_file), os.environ.get(policy.signingKey.passphraseEnv, ""))
    registry = registry or load_environment(env).registry
    return key, (f"{registry}/{image_repository(label)}",)


# -- licences ------------------------------------------------------------------------------------


def _component_licences(component: dict) -> list[str]:
    found = []
    for entry in component.get("licenses", []):
        if "expression" in entry:
            found.append(entry["expression"])
        else:
            found.append(entry["license"].get("id") or entry["license"].get("name", ""))
    return found


def licence_findings(document: dict, policy: LicencePolicy) -> list[tuple[str, str]]:
    """(component, licence) pairs that need a decision under ``policy``."""
    found = []
    for component in document.get("components", []):
        licences = _component_licences(component)
        model = component["type"] == "machine-learning-model"
        if not licences and model and policy.undeclaredModels == "needDecision":
            found.append((component["name"], "no licence declared"))
        for licence in licences:
            if any(
                fnmatch.fnmatch(licence.lower(), p.lower()) or p.lower() in licence.lower().split()
                for p in policy.needDecision
            ):
                found.append((component["name"], licence))
    return found


def licence_report(document: dict, path: Path | None = None) -> list[str]:
    """One line per licence: how many components carry it, which, and whether it needs a decision."""
    path = path or policy_file()
    by_licence: dict[str, list[str]] = {}
    for component in document.get("components", []):
        for licence in _component_licences(component) or ["(none declared)"]:
            by_licence.setdefault(licence, []).append(component["name"])
    flagged = {licence for _, licence in licence_findings(document, load_policy(path).licences)}
    lines = []
    for licence, names in sorted(by_licence.items(), key=lambda item: (-len(item[1]), item[0])):
        mark = "NEEDS DECISION " if licence in flagged else ""
        shown = ", ".join(names[:4]) + (f" (+{len(names) - 4})" if len(names) > 4 else "")
        lines.append(f"{mark}{licence}: {len(names)} ({shown})")
    return lines


def undecided_licences(document: dict, env: str, path: Path | None = None) -> list[str]:
    path = path or policy_file()
    accepted = {(a.component, a.licence) for a in environment_policy(env, path).acceptLicences}
    findings = licence_findings(document, load_policy(path).licences)
    return [
        f"{component} is {licence}" for component, licence in findings if (component, licence) not in accepted
    ]


def warn_model_licences(model: str, env: str) -> None:
    """``resolve``'s warning: the model's images whose last SBOM carries an undecided licence."""
    from tools.k8s.render.inputs import load_inputs

    warn_licences([load_inputs(model, env, root=REPO_ROOT).image_label], env)


def warn_licences(labels: list[Label], env: str, path: Path | None = None) -> None:
    """For ``resolve``: a warning per licence needing a decision, from each image's last SBOM."""
    path = path or policy_file()
    from tools.supply.attest import output_file

    for label in labels:
        sbom_file = output_file(label, ".sbom.cdx.json")
        if not sbom_file.exists():
            continue
        for item in undecided_licences(json.loads(sbom_file.read_text()), env, path):
            print(
                f"warning: {label}: {item}: needs a licence decision for {env} ({path.name})", file=sys.stderr
            )
