"""`servectl apply --env prod` against a real kube-apiserver: the supply-chain gate refuses an
image nobody attested, in one line, before anything reaches the cluster."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tools.paths import REPO_ROOT

pytestmark = pytest.mark.slow


def test_apply_to_prod_refuses_an_unattested_image_and_applies_nothing(apiserver, tmp_path):
    """The real CLI against the real API server: one error line, exit 2, no Deployment written."""
    from lightkube import Client, KubeConfig
    from lightkube.resources.apps_v1 import Deployment

    config = yaml.safe_load(apiserver.read_text())
    config["contexts"][0]["name"] = config["current-context"] = "creativeflow-prod"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    digest = "sha256:" + "5" * 64
    command = [sys.executable, "-m", "tools", "apply", "yolo", "--env", "prod",
               "--kubeconfig", str(kubeconfig), "--digest", f"//models/yolo:image={digest}"]  # fmt: skip
    with Client(config=KubeConfig.from_file(kubeconfig)) as client:
        before = {d.metadata.name for d in client.list(Deployment, namespace="creativeflow-ai-serving")}
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
        after = {d.metadata.name for d in client.list(Deployment, namespace="creativeflow-ai-serving")}
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"supply chain: prod refuses //models/yolo:image@{digest[:19]}" in errors[0]
    assert after == before
