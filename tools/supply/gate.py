"""``enforce``: the supply-chain check ``apply`` runs before it changes anything (policy.py has the
data side). Verification uses only the environment's public key and what the layout holds, so a
tampered layer, weight file, SBOM or signature fails here, and says which."""

from __future__ import annotations

import json
import os
import sys

from tools.errors import UserError
from tools.labels import Label, image_repository
from tools.oci.push import tls_from_environment
from tools.paths import image_layout_dir
from tools.supply import models, provenance, referrers, sbom, signing
from tools.supply import policy as policies
from tools.supply.contents import image_manifest, read_image


def _say(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def _signed_statement(layout_dir, artifact_type: str, public, digest: str, what: str) -> dict:
    found = referrers.list_referrers(layout_dir, artifact_type)
    if not found:
        raise LookupError(what)
    (referrer,) = found[-1:]
    if referrer.manifest["layers"][0]["mediaType"] != signing.DSSE_MEDIA_TYPE:
        raise UserError(f"{what} is not signed")
    payload = signing.open_envelope(referrer.layer_bytes(layout_dir), public, what)
    statement = json.loads(payload)
    subjects = [s.get("digest", {}).get("sha256") for s in statement.get("subject", [])]
    if digest.removeprefix("sha256:") not in subjects:
        raise UserError(f"{what} is about another image ({', '.join(map(str, subjects))})")
    return statement


def verify(label: Label, digest: str, env: str, registry: str, *, models_signed: bool = False) -> list[str]:
    """What is missing or invalid for ``label`` at ``digest`` under ``env``'s policy (empty: all good).
    ``models_signed``: each model the image carries must have a model.sig that verifies."""
    layout_dir = image_layout_dir(label)
    try:
        built = image_manifest(layout_dir)[0]
    except UserError:
        built = ""
    if built != digest:
        return [f"no local build of {digest} to check (build and attest it here: servectl apply builds it)"]
    public = policies.public_key(env)
    problems = []
    try:
        statement = _signed_statement(layout_dir, sbom.MEDIA_TYPE, public, digest, "SBOM")
        document = statement["predicate"]
        sbom.validate(document)
        contents = read_image(layout_dir)  # every layer re-read and re-hashed
        unexplained = sbom.unexplained_files(document, contents)
        if unexplained:
            problems.append(f"SBOM incomplete ({len(unexplained)} files: {unexplained[0]})")
        problems += [
            f"licence needs a decision: {item}" for item in policies.undecided_licences(document, env)
        ]
    except LookupError:
        problems.append("missing SBOM")
    except UserError as error:
        problems.append(error.message)
    try:
        statement = _signed_statement(layout_dir, provenance.MEDIA_TYPE, public, digest, "provenance")
        provenance.validate(statement)
    except LookupError:
        problems.append("missing provenance")
    except UserError as error:
        problems.append(error.message)
    identity = f"{registry}/{image_repository(label)}"
    signatures = [
        r
        for r in referrers.list_referrers(layout_dir, referrers.SIGNATURE_ARTIFACT_TYPE)
        if r.descriptor.get("annotations", {}).get(referrers.IDENTITY_ANNOTATION) == identity
    ]
    valid = False
    for signature in signatures:
        layer = signature.manifest["layers"][0]
        payload = signature.layer_bytes(layout_dir)
        expected = signing.simple_signing_payload(identity, digest)
        if payload == expected and signing.verify(
            public, payload, layer["annotations"][signing.SIGNATURE_ANNOTATION]
        ):
            valid = True
    if models_signed and models.model_layers(layout_dir):
        try:
            problems += models.image_model_problems(layout_dir, policies.model_public_key())
        except UserError as error:
            problems.append(error.message)
    if not signatures:
        problems.append(f"missing signature for {identity}")
    elif not valid:
        problems.append(f"signature for {identity} does not verify with the environment's public key")
    return problems


def enforce(environment, digests: dict[str, str], *, push: bool = True) -> None:
    """Refuses (UserError) unless every image passes the supply-chain policy of ``environment``
    (a tools.k8s.schema.environments.Environment)."""
    from tools.supply import attest

    env, registry = environment.name, environment.registry
    policy = policies.environment_policy(env, cluster_kind=environment.cluster.kind)
    if policy.skipChecks:
        _say(
            f"supply chain: checks skipped on {env} "
            f"(platform/supply-chain.yaml: environments.{env}.skipChecks)"
        )
        return
    failures = []
    for text, digest in digests.items():
        label = Label.parse(text)
        layout_dir = image_layout_dir(label)
        try:
            if policy.signingKey and os.environ.get(policy.signingKey.pathEnv):
                key, identities = policies.signing_material(env, label, registry=registry)
                if image_manifest(layout_dir)[0] == digest:
                    attest.attach(attest.make(label), key, identities)
        except UserError as error:
            failures.append(f"{label}: {error}")
            continue
        problems = verify(
            label, digest, env, registry, models_signed=environment.features.verifyModelSignatures
        )
        if problems:
            failures.append(f"{label}@{digest[:19]}: {'; '.join(problems)}")
            continue
        if push:
            tls = tls_from_environment(environment.registryTLS)
            count = referrers.push_referrers(layout_dir, registry, image_repository(label), **tls)
            _say(f"{label}: signature, SBOM and provenance verified; {count} referrers pushed to {registry}")
        else:
            _say(f"{label}: signature, SBOM and provenance verified")
    if failures:
        raise UserError(f"supply chain: {env} refuses " + " | ".join(failures), file=policies.policy_file())
