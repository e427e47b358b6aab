"""A model on a podman environment is never left down: real podman, real yolo image, real server.

1. The server process is SIGKILLed (as the OOM killer or a crash would end it): podman's restart
   policy (restartPolicy: Always, played from the Deployment) brings it back, `status` counts the
   restart, and the model answers correctly again.
2. A new version whose model file is missing: it is started beside the serving pod, never gets
   ready, is removed; apply exits non-zero quoting the server's own log line, and the serving pod
   (same pod, same image) keeps answering correctly.
3. A good new version replaces the serving pod once proven ready beside it, and the fixed port
   (the model's front proxy) never stops answering meanwhile.
4. `history` lists the two versions that became ready; `rollback` plays the first one again.
5. `delete` removes every pod of the model.

Runs on its own registry and host port (tools/deploy/tests/local_repo.py), so it needs no lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time

import httpx
import pytest

from tools.deploy.podman.client import podman_env
from tools.deploy.tests import local_repo

pytestmark = [pytest.mark.slow, pytest.mark.container]

ENV = "neverdown"


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    yield from local_repo.local_repo(tmp_path_factory, ENV)


def podman(*args: str) -> str:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, env=podman_env(), check=True
    ).stdout


def server_container(pod: dict) -> str:
    (name,) = [c["Names"] for c in pod["Containers"] if "infra" not in c["Names"]]
    return name


def status_line(cli, key: str) -> str:
    status = cli("status", "yolo", "--env", ENV, check=False).stdout
    return next(line for line in status.splitlines() if key in line)


@contextlib.contextmanager
def unanswered(url: str):
    """Polls ``url`` every 50 ms in a thread; yields the list of unanswered stretches (seconds)."""
    gaps: list[float] = []
    done = threading.Event()

    def poll() -> None:
        down_since = None
        while not done.is_set():
            try:
                up = httpx.get(url, timeout=1).status_code == 200
            except httpx.HTTPError:
                up = False
            now = time.monotonic()
            if not up and down_since is None:
                down_since = now
            elif up and down_since is not None:
                gaps.append(now - down_since)
                down_since = None
            time.sleep(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield gaps
    finally:
        done.set()
        thread.join()


def answers_correctly(cli) -> None:
    answer = json.loads(cli("predict", "yolo", "--env", ENV, "--json").stdout)
    assert [d["class_name"] for d in answer["detections"]].count("Normal") >= 3, answer


def test_killed_server_comes_back_and_a_bad_version_never_replaces_a_good_one(cli):
    cli("apply", "yolo", "--env", ENV)
    answers_correctly(cli)
    (pod,) = local_repo.pods(ENV)
    assert "restarts=0" in status_line(cli, "ready=true")

    # 1. SIGKILL of the server process, from outside podman.
    container = server_container(pod)
    pid = int(podman("inspect", container, "--format", "{{.State.Pid}}").strip())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while "ready=true, restarts=1" not in status_line(cli, "pod(s) running") and time.monotonic() < deadline:
        time.sleep(1)
    assert "ready=true, restarts=1" in status_line(cli, "pod(s) running")
    assert int(podman("inspect", container, "--format", "{{.State.Pid}}").strip()) != pid
    answers_correctly(cli)
    serving_image = status_line(cli, "image:")

    # 2. A new version whose model file is missing never replaces the serving one.
    model_yaml = cli.root / "models/yolo/model.yaml"
    good = model_yaml.read_text()
    model_yaml.write_text(good.replace("/models/yolo/model.xml", "/models/yolo/missing.xml"))
    bad = cli("apply", "yolo", "--env", ENV, "--timeout", "60", check=False)
    assert bad.returncode != 0, bad.stderr
    assert "starting the new version beside the serving one" in bad.stderr
    assert "failed to load" in bad.stderr and "missing.xml" in bad.stderr, bad.stderr  # its own line
    assert "the serving one was not touched" in bad.stderr
    assert "Traceback (most recent call last)" not in bad.stderr.split("last log lines:")[0]
    assert [p["Id"] for p in local_repo.pods(ENV)] == [pod["Id"]]  # the standby is gone
    assert status_line(cli, "image:") == serving_image
    answers_correctly(cli)
    assert cli("diff", "yolo", "--env", ENV, check=False).returncode == 1  # the record is the old one

    # 3. A good new version (app code changed) replaces it, once ready beside it.
    model_yaml.write_text(good)
    handler = cli.root / "models/yolo/handler.py"
    handler.write_text(handler.read_text() + "\n# a change to app code only\n")
    with unanswered(f"http://127.0.0.1:{cli.http_port}/ready") as gaps:
        rollout = cli("apply", "yolo", "--env", ENV)
    # The model's proxy owns the fixed port: it moves to the new pod before the old one stops.
    assert gaps == [], f"the fixed port went unanswered for {gaps} s while replaced"
    assert "starting the new version beside the serving one" in rollout.stderr
    (new_pod,) = local_repo.pods(ENV)
    assert new_pod["Id"] != pod["Id"]
    assert status_line(cli, "image:") != serving_image
    answers_correctly(cli)

    # 4. History holds what became ready (not the bad version); rollback goes back, proven beside.
    history = cli("history", "yolo", "--env", ENV).stdout.splitlines()
    assert [line.split()[:2] for line in history] == [["revision", "1"], ["revision", "2"]], history
    back = cli("rollback", "yolo", "--env", ENV)
    assert "starting the new version beside the serving one" in back.stderr
    assert "revision 3" in back.stdout and "(rollback to 1)" in back.stdout, back.stdout
    assert status_line(cli, "image:") == serving_image
    assert len(local_repo.pods(ENV)) == 1
    answers_correctly(cli)

    # 5. Delete removes the serving pod and any standby; the history stays for a later apply.
    cli("delete", "yolo", "--env", ENV)
    assert local_repo.pods(ENV) == []
    assert len(cli("history", "yolo", "--env", ENV).stdout.splitlines()) == 3
