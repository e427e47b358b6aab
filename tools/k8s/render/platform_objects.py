"""The shared objects every model's manifests start with: Namespace, ServiceAccount, Role, RoleBinding,
and the namespace's default-deny NetworkPolicy."""

from __future__ import annotations

from tools.k8s.render import workload
from tools.k8s.render.inputs import RenderInputs
from tools.k8s.render.network import default_deny

# The namespace itself refuses pods that are not Pod Security "restricted", so a manifest that
# drifts from the restricted profile fails at admission, not in an audit months later.
POD_SECURITY_VERSION = "v1.30"


def namespace(inputs: RenderInputs) -> dict:
    """The platform's Namespace, enforcing Pod Security "restricted"."""
    labels = {
        **inputs.platform_labels(),
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": POD_SECURITY_VERSION,
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": POD_SECURITY_VERSION,
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": inputs.namespace, "labels": labels},
    }


def _meta(inputs: RenderInputs, name: str) -> dict:
    return {"name": name, "namespace": inputs.namespace, "labels": inputs.platform_labels()}


def service_account(inputs: RenderInputs) -> dict:
    """The model servers' ServiceAccount, without a mounted token."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(inputs, inputs.platform.serviceAccount),
        # The servers never call the API server; a mounted token would only be something to steal.
        "automountServiceAccountToken": False,
    }


def role(inputs: RenderInputs) -> dict:
    """The read-only Role of platform.yaml."""
    spec = inputs.platform.role
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(inputs, spec.name),
        "rules": [
            {"apiGroups": list(r.apiGroups), "resources": list(r.resources), "verbs": list(r.verbs)}
            for r in spec.rules
        ],
    }


def role_binding(inputs: RenderInputs) -> dict:
    """Binds the Role to the ServiceAccount."""
    platform = inputs.platform
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(inputs, platform.roleBinding),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": platform.role.name},
        "subjects": [
            {"kind": "ServiceAccount", "name": platform.serviceAccount, "namespace": inputs.namespace}
        ],
    }


def model_signing_key(inputs: RenderInputs) -> dict | None:
    """The model signing key's public half, which pods verify model.sig with, where the environment
    demands it: from the file platform/supply-chain.yaml names (models.publicKey). None while that
    file is missing: no key is committed yet (platform/keys/README.md), and apply's gate refuses such
    an environment's models anyway, so pods that would wait for this ConfigMap are never applied."""
    if not inputs.env.features.verifyModelSignatures:
        return None
    from tools.supply import policy  # platform/supply-chain.yaml: the one place naming the key

    path = policy.policy_file()
    named = policy.load_policy(path).models.publicKey
    if not named or not (path.parent / named).is_file():
        return None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(inputs, workload.MODEL_KEY_CONFIG_MAP),
        "data": {workload.MODEL_KEY_FILE: (path.parent / named).read_text()},
    }


def platform_objects(inputs: RenderInputs) -> list[dict]:
    """Namespace, ServiceAccount, Role, RoleBinding, default-deny (and the model signing key): the
    head of every model's manifests."""
    key = model_signing_key(inputs)
    objects = [
        namespace(inputs),
        service_account(inputs),
        role(inputs),
        role_binding(inputs),
        default_deny(inputs),
    ]
    return objects + ([key] if key else [])
