"""The servectl deploy verbs on a Kubernetes environment, run as the real CLI against the real API server.

`python -m tools <verb> yolo --env staging` with a kubeconfig whose context is the environment's
(``creativeflow-staging``) and a digest file instead of a build. The v1.20 test server does not
serve policy/v1 or autoscaling/v2, which the staging manifests use: `diff`/`apply` must say so in
one line and change nothing; `status` and `delete` work from labels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lightkube import Client, KubeConfig
from lightkube.resources.apps_v1 import Deployment

from tools.deploy import kubernetes as cluster
from tools.k8s.checks.monitoring_crds import crds
from tools.k8s.render.resolve import resolve
from tools.paths import REPO_ROOT
from tools.testing.apiserver import free_port
from tools.testing.k8s_objects import for_kubernetes_1_20, install_crd

pytestmark = pytest.mark.slow
DIGEST = "sha256:" + "7" * 64
CONTEXT = "creativeflow-staging"  # platform/environments/staging.yaml cluster.context
NAMESPACE = "creativeflow-ai-serving"  # platform/platform.yaml
SKIP_SUPPLY_CHAIN = REPO_ROOT / "tools/supply/testdata/skip-checks.yaml"  # the gate: tools/supply/tests


@pytest.fixture(scope="module")
def setup(apiserver, tmp_path_factory):
    """(kubeconfig with the staging context name, digest file, plain lightkube client)."""
    tmp = tmp_path_factory.mktemp("cli")
    config = yaml.safe_load(apiserver.read_text())
    config["contexts"][0]["name"] = config["current-context"] = CONTEXT
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    digest_file = tmp / "image.digest"
    digest_file.write_text(DIGEST + "\n")
    with Client(config=KubeConfig.from_file(kubeconfig)) as client:
        yield kubeconfig, digest_file, client


def servectl(verb: str, kubeconfig: Path, digest_file: Path, *extra: str) -> subprocess.CompletedProcess:
    image = f"//models/yolo:image={digest_file}"
    command = [sys.executable, "-m", "tools", verb, "yolo", "--env", "staging",
               "--kubeconfig", str(kubeconfig), "--digest-file", image, *extra]  # fmt: skip
    env = {**os.environ, "CF_SUPPLY_CHAIN_FILE": str(SKIP_SUPPLY_CHAIN)}  # made-up digest: no SBOM
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=env)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def deployments(client: Client) -> dict[str, str]:
    """name -> resourceVersion in the platform namespace: any write would change it."""
    return {d.metadata.name: d.metadata.resourceVersion for d in client.list(Deployment, namespace=NAMESPACE)}


def test_diff_and_apply_say_what_the_server_lacks_and_change_nothing(setup):
    kubeconfig, digest_file, client = setup
    before = deployments(client)
    for verb in ("diff", "apply"):
        line = one_error_line(servectl(verb, kubeconfig, digest_file))
        assert "does not serve PodDisruptionBudget in policy/v1; nothing was sent" in line
        as_json = servectl(verb, kubeconfig, digest_file, "-o", "json")
        error = json.loads(as_json.stdout)["error"]
        assert as_json.returncode == 2 and "does not serve PodDisruptionBudget" in error["message"]
        assert error["field"].endswith(".apiVersion"), error
    assert deployments(client) == before


def test_status_then_delete_of_an_applied_model(setup):
    kubeconfig, digest_file, client = setup
    for crd in crds():  # the kinds prometheus-operator installs
        install_crd(kubeconfig, crd)
    objects = for_kubernetes_1_20(resolve("yolo", "staging", digests={"//models/yolo:image": DIGEST}))
    cluster.apply(objects, kubeconfig=kubeconfig, context=CONTEXT)

    status = servectl("status", kubeconfig, digest_file)
    assert status.returncode == 1, status.stderr  # no kubelet here: never ready
    assert f"deployment {NAMESPACE}/yolo: 0/" in status.stdout
    assert f"/models/yolo/image@{DIGEST}" in status.stdout
    assert f"service yolo.{NAMESPACE}.svc" in status.stdout
    as_json = servectl("status", kubeconfig, digest_file, "-o", "json")
    assert as_json.returncode == 1, as_json.stderr  # the same exit code as the text output
    document = json.loads(as_json.stdout)
    assert document["schema"] == "servectl.status/v1" and document["ready"] is False
    assert (document["model"], document["environment"], document["target"]) == (
        "yolo",
        "staging",
        "kubernetes",
    )
    (deployment,) = document["details"]["deployments"]
    assert deployment["images"] == [
        f"registry.staging.creativeflow.example/ai-serving/models/yolo/image@{DIGEST}"
    ]
    assert (deployment["namespace"], deployment["name"], deployment["rolled_out"]) == (
        NAMESPACE,
        "yolo",
        False,
    )
    (service,) = document["details"]["services"]
    assert service["name"] == "yolo" and "http=80/TCP" in service["ports"]

    planned = servectl("delete", kubeconfig, digest_file, "--dry-run")
    assert planned.returncode == 0 and f"delete Deployment {NAMESPACE}/yolo" in planned.stdout
    planned_json = json.loads(servectl("delete", kubeconfig, digest_file, "--dry-run", "-o", "json").stdout)
    assert planned_json["schema"] == "servectl.delete/v1" and planned_json["dry_run"] is True
    assert planned_json["deleted"] == planned.stdout.splitlines()
    before = deployments(client)
    assert "yolo" in before
    deleted = servectl("delete", kubeconfig, digest_file)
    assert deleted.returncode == 0, deleted.stderr
    assert deployments(client) == {k: v for k, v in before.items() if k != "yolo"}  # other models untouched
    assert "yolo: nothing deployed on staging" in servectl("delete", kubeconfig, digest_file).stdout
    nothing = json.loads(servectl("delete", kubeconfig, digest_file, "-o", "json").stdout)
    assert (nothing["deleted"], nothing["dry_run"]) == ([], False)


def test_unreachable_server_is_one_line_and_exit_2(setup, tmp_path):
    kubeconfig, digest_file, _ = setup
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    dead = tmp_path / "kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    for verb in ("apply", "diff", "status", "delete"):
        assert "cannot reach the API server" in one_error_line(servectl(verb, dead, digest_file)), verb
    as_json = servectl("status", dead, digest_file, "-o", "json")
    error = json.loads(as_json.stdout)["error"]
    assert as_json.returncode == 2 and "cannot reach the API server" in error["message"]
    assert error["file"] == str(dead)


def test_history_and_rollback_as_json_and_their_errors(setup):
    kubeconfig, digest_file, _ = setup
    history = servectl("history", kubeconfig, digest_file, "-o", "json")
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout) == {
        "schema": "servectl.history/v1",
        "model": "yolo",
        "environment": "staging",
        "revisions": [],
    }
    refused = servectl("rollback", kubeconfig, digest_file, "-o", "json")
    error = json.loads(refused.stdout)
    assert refused.returncode == 2 and error["schema"] == "servectl.error/v1", refused.stdout
    assert "nothing to roll back to" in error["error"]["message"]
    line = one_error_line(servectl("rollback", kubeconfig, digest_file, "--to", "3"))
    assert "nothing to roll back to" in line or "no revision 3" in line, line
