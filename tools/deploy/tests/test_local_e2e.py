"""End to end on a podman environment: apply yolo, predict, change app code, re-apply, delete.

Everything is real: the image builder, a docker-registry on a free port, podman kube play, the
server in the container answering on loopback. The test works on a copy of the repo (so it can
edit app code) with its own environment file `e2e.yaml` (its own registry and host port, so a
developer's running `local` demo is left alone) and its own build dir, which shares only the
content-addressed layer cache and the model artifacts with the real one.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
import yaml

from tools.deploy.tests import local_repo
from tools.oci.layout import read_manifest
from tools.testing.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.container]

ENV = "e2e"


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    yield from local_repo.local_repo(tmp_path_factory, ENV)


def pods(env: str = ENV) -> list[dict]:
    return local_repo.pods(env)


def running_image(cli) -> str:
    status = cli("status", "yolo", "--env", ENV).stdout
    line = next(line for line in status.splitlines() if line.strip().startswith("image:"))
    return line.split("image:", 1)[1].strip()


def digest_file(cli) -> str:
    return (cli.out / "images/models/yolo/image.digest").read_text().strip()


def test_apply_predict_change_reapply_delete(e2e):
    # 1. The README's main job: build, push, play, wait until ready, predict on bus.jpg.
    first = e2e("demo", "yolo", "--env", ENV, "--prometheus-port", str(free_port()))
    digest = digest_file(e2e)
    assert f"@{digest}" in first.stdout  # it says which image answered
    assert first.stdout.count("Normal") >= 3, first.stdout
    assert running_image(e2e) == f"127.0.0.1:{e2e.registry_port}/models/yolo/image@{digest}"
    assert len(pods()) == 1

    # 2. A real image through the container: the trained weights find the people on bus.jpg.
    answer = json.loads(e2e("predict", "yolo", "--env", ENV, "--json").stdout)
    names = [d["class_name"] for d in answer["detections"]]
    assert names.count("Normal") >= 3, answer
    assert all(len(d["box"]) == 4 for d in answer["detections"])

    # 2b. The demo's Prometheus scraped the pod: status shows the rate, error ratio and p99.
    deadline = time.monotonic() + 90
    while True:
        metrics = next(
            line for line in e2e("status", "yolo", "--env", ENV).stdout.splitlines() if "metrics:" in line
        )
        if "n/a" not in metrics or time.monotonic() > deadline:
            break
        e2e("predict", "yolo", "--env", ENV, "--json")  # a rate needs the counter to grow between scrapes
        time.sleep(5)
    assert "req/s, errors 0.00 %, p99" in metrics and "n/a" not in metrics, metrics
    status = json.loads(e2e("status", "yolo", "--env", ENV, "-o", "json").stdout)  # what scripts read
    assert (status["schema"], status["target"], status["ready"]) == ("servectl.status/v1", "podman", True)
    assert status["endpoint"].startswith("http://127.0.0.1:") and status["details"]["image"].endswith(digest)

    # 3. Nothing changed: diff is clean, a second apply pushes and replaces nothing.
    assert json.loads(e2e("diff", "yolo", "--env", ENV, "-o", "json").stdout)["changed"] is False
    old_pod = pods()[0]["Id"]
    again = e2e("apply", "yolo", "--env", ENV, "-o", "json")
    assert "unchanged and ready" in again.stderr
    applied = json.loads(again.stdout)
    assert (applied["schema"], applied["changed"]) == ("servectl.apply/v1", False)
    assert applied["images"] == [f"127.0.0.1:{e2e.registry_port}/models/yolo/image@{digest}"]
    assert "already in" in again.stderr  # nothing pushed
    assert [p["Id"] for p in pods()] == [old_pod]

    # 4. Change app code: a new digest, only the app layer is pushed, the old container is gone.
    handler = e2e.root / "models/yolo/handler.py"
    handler.write_text(handler.read_text() + "\n# a change to app code only\n")
    assert e2e("diff", "yolo", "--env", ENV, check=False).returncode == 1
    rollout = e2e("apply", "yolo", "--env", ENV)
    new_digest = digest_file(e2e)
    assert new_digest != digest
    assert running_image(e2e).endswith(new_digest)
    pushed = next(line for line in rollout.stderr.splitlines() if "pushed" in line)
    # The model's app layer and the config (the manifest is not a blob); the Debian base, the
    # interpreter, packages, the runtime's app layer and the weights are already there.
    _, manifest, _ = read_manifest(e2e.out / "images/models/yolo/image")
    assert f"pushed 2/{len(manifest['layers']) + 1} blobs" in pushed, pushed
    assert [p["Id"] for p in pods()] != [old_pod] and len(pods()) == 1

    # 5. Delete: nothing of the model runs, the registry still holds both images.
    e2e("delete", "yolo", "--env", ENV)
    assert pods() == []
    assert e2e("status", "yolo", "--env", ENV, check=False).returncode == 1
    for kept in (digest, new_digest):
        response = httpx.head(
            f"http://127.0.0.1:{e2e.registry_port}/v2/models/yolo/image/manifests/{kept}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert response.status_code == 200, kept


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("apply", "nosuchmodel", "--env", ENV), "unknown model 'nosuchmodel'"),
        (("apply", "yolo", "--env", "nosuchenv"), "nosuchenv"),
        (
            ("resolve", "yolo", "--env", ENV, "--digest-file", "//models/yolo:image=/nonexistent"),
            "nonexistent",
        ),
        (("status", "yolo", "--env", ENV, "--digest-file", "no-equals-sign"), "expects LABEL=VALUE"),
        (("apply", "yolo", "--env", ENV, "--canary", "100"), "--canary takes a percentage from 1 to 99"),
        (
            ("apply", "yolo", "--env", ENV, "--canary", "5", "--no-wait"),
            "cannot go with --dry-run or --no-wait",
        ),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(e2e, args, message):
    before = pods()
    proc = e2e(*args, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr
    assert pods() == before


def test_registry_port_taken_fails_before_anything_runs(e2e):
    """The environment's registry port answers, but not as a registry: one line, nothing played."""
    e2e("registry", "stop", check=False)  # one registry per build dir: not the e2e one
    env_file = e2e.root / f"platform/environments/{ENV}-taken.yaml"
    data = yaml.safe_load((e2e.root / f"platform/environments/{ENV}.yaml").read_text())
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        data["registry"] = f"127.0.0.1:{squatter.getsockname()[1]}"
        env_file.write_text(yaml.safe_dump(data))
        try:
            proc = e2e("apply", "yolo", "--env", f"{ENV}-taken", check=False)
        finally:
            env_file.unlink()
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "taken" in last, proc.stderr
    assert "Traceback" not in proc.stderr
    assert pods(f"{ENV}-taken") == []
