"""A model's ConfigMap (from its runtime's hook) and its Deployment.

The ConfigMap's files come from the runtime's CONTRACT hook named in runtime.yaml:
``<config.module>.config_files(model_dir, model_name, gpu) -> dict[str, str]``. The Deployment
meets Pod Security "restricted" and runs as uid 65532 with only an emptyDir /tmp writable.
"""

from __future__ import annotations

import hashlib
import json
import re

from tools.errors import UserError
from tools.k8s.label_keys import CONFIG_SHA256
from tools.k8s.render.inputs import RenderInputs
from tools.k8s.schema.specs import ProbeSpec, model_dir
from tools.labels import Label
from tools.plugins import load_hook

NONROOT_UID = 65532  # the "nonroot" user of distroless-style images, also our base image's
TERMINATION_GRACE_SECONDS = 45
CONTAINER_NAME = "server"
CONFIG_VOLUME = "config"
TMP_VOLUME = "tmp"
# The model signing key's public half, a platform ConfigMap (platform_objects.model_signing_key).
MODEL_KEY_VOLUME = "model-signing-key"
MODEL_KEY_CONFIG_MAP = "model-signing-key"
MODEL_KEY_FILE = "models.pub"
MODEL_KEY_DIR = "/etc/model-signing"
VERIFY_CONTAINER_NAME = "verify-model-signature"
# modelSignature.staged: the model directory copied out of the model's image, verified, served.
STAGE_CONTAINER_NAME = "stage-model"
STAGED_VOLUME = "verified-model"
_CONFIG_KEY = re.compile(r"[-._A-Za-z0-9]+")


def config_map_name(inputs: RenderInputs) -> str:
    """``<model>-config``."""
    return f"{inputs.name}-config"


def runtime_config_files(inputs: RenderInputs) -> dict[str, str] | None:
    """Calls the runtime's config hook, or returns None when the runtime needs no ConfigMap."""
    spec = inputs.runtime.config
    if spec is None:
        return None
    where = {
        "file": inputs.root / "runtimes" / inputs.runtime.name / "runtime.yaml",
        "field": "config.module",
    }
    config_files = load_hook(
        spec.module, "config_files", signature="config_files(model_dir, model_name, gpu)", **where
    )
    files = config_files(model_dir(inputs.name, inputs.root), inputs.name, inputs.placement.device == "gpu")
    if not isinstance(files, dict) or not files:
        raise UserError(f"{spec.module}.config_files returned {type(files).__name__}, not files", **where)
    for key, text in files.items():
        if not isinstance(key, str) or not _CONFIG_KEY.fullmatch(key) or not isinstance(text, str):
            raise UserError(f"{spec.module}.config_files returned a bad entry {key!r}", **where)
    if spec.files and set(files) != set(spec.files):
        raise UserError(
            f"{spec.module}.config_files made {sorted(files)}, runtime.yaml mounts {sorted(spec.files)}",
            file=where["file"],
            field="config.files",
        )
    return dict(sorted(files.items()))


def config_map(inputs: RenderInputs, files: dict[str, str]) -> dict:
    """The ConfigMap holding the runtime hook's files."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": inputs.metadata(config_map_name(inputs)),
        "data": files,
    }


def _probe(probe: ProbeSpec, inputs: RenderInputs) -> dict:
    if probe.httpGet:
        path = inputs.expand(probe.httpGet.path)
        handler = {"httpGet": {"path": path, "port": probe.httpGet.port, "scheme": "HTTP"}}
    else:
        handler = {"tcpSocket": {"port": probe.tcpSocket.port}}
    return {
        **handler,
        "initialDelaySeconds": probe.initialDelaySeconds,
        "periodSeconds": probe.periodSeconds,
        "timeoutSeconds": probe.timeoutSeconds,
        "failureThreshold": probe.failureThreshold,
    }


def _resources(inputs: RenderInputs) -> dict:
    wanted = inputs.placement.resources
    limits = {"cpu": wanted.limits.cpu, "memory": wanted.limits.memory}
    gpu = inputs.gpu_resource
    if gpu:
        # Extended resources are requested through limits alone; the scheduler copies them to requests.
        # A string: quantities are strings to server-side apply ("expected string, got 1").
        limits[gpu] = str(inputs.placement.gpu.count)
    return {"requests": {"cpu": wanted.requests.cpu, "memory": wanted.requests.memory}, "limits": limits}


def model_signature(inputs: RenderInputs):
    """The runtime's way of checking model.sig when the environment demands it, else None."""
    if not inputs.env.features.verifyModelSignatures:
        return None
    return inputs.runtime.modelSignature


def _key_mount() -> dict:
    return {"name": MODEL_KEY_VOLUME, "mountPath": MODEL_KEY_DIR, "readOnly": True}


def _env(inputs: RenderInputs) -> list[dict]:
    merged = {**inputs.runtime.env, **inputs.model.env}
    signature = model_signature(inputs)
    if signature is not None and signature.publicKeyEnv:
        merged[signature.publicKeyEnv] = f"{MODEL_KEY_DIR}/{MODEL_KEY_FILE}"
    return [
        {
            "name": name,
            "value": inputs.expand(value),
        }
        for name, value in merged.items()
    ]


def _mounts_and_volumes(inputs: RenderInputs, files: dict[str, str] | None) -> tuple[list, list]:
    mounts = [{"name": TMP_VOLUME, "mountPath": "/tmp"}]
    volumes: list[dict] = [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": inputs.runtime.tmpSizeLimit}}]
    spec = inputs.runtime.config
    if files is not None and spec is not None:
        volumes.append({"name": CONFIG_VOLUME, "configMap": {"name": config_map_name(inputs)}})
        if spec.mountPath:
            path = inputs.expand(spec.mountPath)
            mounts.append({"name": CONFIG_VOLUME, "mountPath": path, "readOnly": True})
        for key, target in spec.files.items():
            path = inputs.expand(target)
            mounts.append({"name": CONFIG_VOLUME, "mountPath": path, "subPath": key, "readOnly": True})
    signature = model_signature(inputs)
    if signature is not None:
        volumes.append({"name": MODEL_KEY_VOLUME, "configMap": {"name": MODEL_KEY_CONFIG_MAP}})
        if signature.publicKeyEnv:
            mounts.append(_key_mount())
        if signature.staged is not None:
            staged = signature.staged
            volumes.append({"name": STAGED_VOLUME, "emptyDir": {"sizeLimit": staged.sizeLimit}})
            # Over the image's own model directory: the server loads the copy that verified.
            served = {"name": STAGED_VOLUME, "mountPath": inputs.expand(staged.serverPath), "readOnly": True}
            mounts.append(served)
    return mounts, volumes


def _restricted_security_context() -> dict:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": NONROOT_UID,
        "runAsGroup": NONROOT_UID,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _init_container(name: str, image: str, command: list[str], mounts: list[dict]) -> dict:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        # Hashing (or copying) the weights once: a small, bounded share, whatever the server gets.
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": _restricted_security_context(),
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}, *mounts],
    }


def init_containers(inputs: RenderInputs) -> list[dict]:
    """The signature check for servers we do not modify: the model's own image (so the very files
    the server loads), the runtime's ``initCommand``, the key mounted; a failure keeps the pod
    from starting, and its log says why. With ``staged``, the model's image only copies its model
    directory into the shared emptyDir, and the check runs in the verifier image over that copy."""
    signature = model_signature(inputs)
    if signature is None or not signature.initCommand:
        return []
    key = f"{MODEL_KEY_DIR}/{MODEL_KEY_FILE}"
    command = [inputs.expand(w).replace("{publicKey}", key) for w in signature.initCommand]
    model_image = str(inputs.image_label)  # the very variant the server container runs
    staged = signature.staged
    if staged is None:
        return [_init_container(VERIFY_CONTAINER_NAME, model_image, command, [_key_mount()])]
    shared = {"name": STAGED_VOLUME, "mountPath": inputs.expand(staged.path)}
    copy = [inputs.expand(w) for w in staged.copyCommand]
    verifier = str(Label.parse(staged.verifierImage))
    checked = [{**shared, "readOnly": True}, _key_mount()]
    return [
        _init_container(STAGE_CONTAINER_NAME, model_image, copy, [shared]),
        _init_container(VERIFY_CONTAINER_NAME, verifier, command, checked),
    ]


def _container(inputs: RenderInputs, files: dict[str, str] | None) -> dict:
    runtime = inputs.runtime
    mounts, _ = _mounts_and_volumes(inputs, files)
    container: dict = {
        "name": CONTAINER_NAME,
        "image": str(inputs.image_label),
        "imagePullPolicy": "IfNotPresent",
    }
    if runtime.command:
        container["command"] = [inputs.expand(w) for w in runtime.command]
    if runtime.args:
        container["args"] = [inputs.expand(w) for w in runtime.args]
    env = _env(inputs)
    if env:
        container["env"] = env
    container["ports"] = [
        {"name": p.name, "containerPort": p.containerPort, "protocol": "TCP"} for p in runtime.ports
    ]
    container["resources"] = _resources(inputs)
    container["startupProbe"] = _probe(runtime.probes.startup, inputs)
    container["readinessProbe"] = _probe(runtime.probes.readiness, inputs)
    container["livenessProbe"] = _probe(runtime.probes.liveness, inputs)
    container["securityContext"] = _restricted_security_context()
    container["volumeMounts"] = mounts
    return container


def _scheduling(inputs: RenderInputs) -> dict:
    env, placement = inputs.env, inputs.placement
    spec: dict = {}
    runtime_class = env.runtime_class(inputs.name)  # GPU pods only, where the cluster needs one
    if runtime_class:
        spec["runtimeClassName"] = runtime_class
    selector = {**env.nodeSelector, **placement.nodeSelector}
    if selector:
        spec["nodeSelector"] = selector
    tolerations = [t.model_dump(exclude_none=True) for t in (*env.tolerations, *placement.tolerations)]
    if tolerations:
        spec["tolerations"] = tolerations
    return spec


def deployment(inputs: RenderInputs, files: dict[str, str] | None) -> dict:
    """The model's Deployment: restricted security context, probes, resources, scheduling."""
    _, volumes = _mounts_and_volumes(inputs, files)
    template_meta: dict = {"labels": inputs.labels()}
    if files is not None:
        # A config change alone must roll the pods: the hash of the files is part of the template.
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        template_meta["annotations"] = {CONFIG_SHA256: digest}
    spec: dict = {}
    if inputs.placement.autoscaling is None:
        spec["replicas"] = inputs.placement.replicas
    # With an HPA, replicas is left out: the HPA owns it, and re-applying must not reset the scale.
    spec.update(
        {
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": inputs.selector()},
            # Never drop below the current capacity during a rollout; models take a while to load.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": template_meta,
                "spec": {
                    "serviceAccountName": inputs.platform.serviceAccount,
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": NONROOT_UID,
                        "runAsGroup": NONROOT_UID,
                        "fsGroup": NONROOT_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    **_scheduling(inputs),
                    # Longer than the servers' own drain (Triton waits up to 30 s for open
                    # connections after SIGTERM), so a rollout never SIGKILLs a draining server.
                    "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                    **({"initContainers": init_containers(inputs)} if init_containers(inputs) else {}),
                    "containers": [_container(inputs, files)],
                    "volumes": volumes,
                },
            },
        }
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": inputs.metadata(inputs.name),
        "spec": spec,
    }
