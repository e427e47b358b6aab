"""What the podman target plays, from the real rendered manifests (no podman needed): one replica,
ports on loopback only, ConfigMaps as read-only files, names and labels per environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.deploy import Deploy
from tools.deploy.podman import PodmanTarget
from tools.deploy.podman.play import endpoint_url, instance_of, readiness_url
from tools.errors import UserError
from tools.k8s.label_keys import ENVIRONMENT

DIGEST = "sha256:" + "1" * 64


@pytest.fixture
def target(tmp_path) -> PodmanTarget:
    return PodmanTarget(Deploy.load("gpt2", "local").env, state_dir=tmp_path / "state")


def played(target: PodmanTarget, model: str) -> list[dict]:
    deploy = Deploy.load(model, "local", {f"//models/{model}:image": DIGEST})
    return target.playable(deploy.release())


def test_only_the_deployment_plays_with_one_replica_on_loopback(target):
    (deployment,) = played(target, "yolo")
    assert deployment["kind"] == "Deployment" and deployment["metadata"]["name"] == "local-yolo"
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["template"]["metadata"]["labels"][ENVIRONMENT] == "local"
    (container,) = spec["template"]["spec"]["containers"]
    assert container["image"].endswith(f"/models/yolo/image@{DIGEST}")
    assert container["ports"] == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP", "hostPort": 18000, "hostIP": "127.0.0.1"},
        {"name": "grpc", "containerPort": 8001, "protocol": "TCP", "hostPort": 18001, "hostIP": "127.0.0.1"},
    ]
    assert "livenessProbe" not in container and "startupProbe" not in container  # no systemd timers here
    assert readiness_url([deployment]) == "http://127.0.0.1:18000/ready"
    assert endpoint_url([deployment]) == "http://127.0.0.1:18000"
    assert instance_of([deployment]) == "yolo"


def test_config_maps_become_read_only_files_named_by_their_content(target):
    (deployment,) = played(target, "gpt2")
    pod = deployment["spec"]["template"]["spec"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"].endswith("config.pbtxt")]
    assert mount["readOnly"] and "subPath" not in mount  # podman 4.3 ignores subPath
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    config = Path(volume["hostPath"]["path"])
    assert volume["hostPath"]["type"] == "File" and config.is_file()
    assert "KIND_CPU" in config.read_text() and config.is_relative_to(target.state_dir)
    assert not [v for v in pod["volumes"] if "configMap" in v]


def test_a_host_port_naming_no_container_port_is_refused(target):
    release = Deploy.load("yolo", "local", {"//models/yolo:image": DIGEST}).release()
    env = target.env
    yolo = env.models["yolo"].model_copy(update={"hostPorts": {"admin": 18001}})
    wrong = PodmanTarget(
        env.model_copy(update={"models": {**env.models, "yolo": yolo}}), state_dir=target.state_dir
    )
    with pytest.raises(UserError, match=r"hostPorts name no container port: \['admin'\]"):
        wrong.playable(release)


def test_diff_against_nothing_applied_shows_everything_and_delete_dry_run_nothing(target):
    release = Deploy.load("yolo", "local", {"//models/yolo:image": DIGEST}).release()
    assert target.diff(release).startswith("--- live/yolo\n+++ rendered/yolo\n")
    assert target.delete(release, dry_run=True) == []
    applied = target.apply(release, dry_run=True)
    assert applied.changed and applied.report[0].startswith("--- live/yolo")
