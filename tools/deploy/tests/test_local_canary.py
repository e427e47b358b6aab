"""Canary and gapless replacement on a podman environment: real podman, real yolo image, the real
front proxy (tools/deploy/podman/proxy.py) on the model's fixed port.

Clients post bus.jpg to the fixed HTTP port the whole time, through every step (and a gRPC
client, tritonclient, asks the fixed gRPC port before and after the replacement):
1. a first apply puts the model behind its proxy;
2. `apply --canary 50` of a good new version (app code changed): both versions answer, the canary
   is judged by its own /metrics over the environment's window and promoted;
3. `apply --canary 50` of a version whose handler fails every request but is ready (a regression
   in postprocess, which the warm-up does not run): its 5xx ratio breaches maxErrorRatio, it is
   rolled back, apply exits 2 naming the threshold and the measured value, the stable pod is the
   same one;
4. `rollback` (a plain replacement) moves the fixed port to another pod;
5. `delete` stops the proxy and removes every pod.
No request gets a connection error at any point; every 200 carries correct detections.

Runs on its own registry and host port (tools/deploy/tests/local_repo.py), so it needs no lock.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc
import yaml
from PIL import Image

from tools import daemons
from tools.deploy.podman.proxy import TRACK_HEADER
from tools.deploy.tests import local_repo
from tools.testing.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.container]

ENV = "canarytest"
# bus.jpg from the ultralytics package (as `servectl predict yolo` sends it), found without importing it.
BUS_JPG = Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0]) / "assets/bus.jpg"
POLICY = {"windowSeconds": 20, "maxErrorRatio": 0.05, "minRequests": 5}
BROKEN = """
def _regressed_postprocess(self, model_output, model_input):  # a release whose postprocess broke
    raise RuntimeError("postprocess regressed")


YOLOModelHandler.postprocess = _regressed_postprocess
"""


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    for made in local_repo.local_repo(tmp_path_factory, ENV):
        env_file = made.root / f"platform/environments/{ENV}.yaml"
        env_data = yaml.safe_load(env_file.read_text())
        made.grpc_port = free_port()  # gRPC through the proxy too (forwarded per connection)
        env_data["models"]["yolo"]["hostPorts"]["grpc"] = made.grpc_port
        env_file.write_text(yaml.safe_dump({**env_data, "canary": POLICY}))
        yield made


@contextlib.contextmanager
def clients(url: str, count: int = 2):
    """``count`` closed-loop clients posting bus.jpg to ``url``; yields a Counter of outcomes:
    ``<track> <status>`` per answer, ``connection error``, ``wrong answer``."""
    image = BUS_JPG.read_bytes()
    outcomes: Counter = Counter()
    done = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while not done.is_set():
                try:
                    answer = http.post(url, content=image, headers={"content-type": "image/jpeg"})
                except httpx.TransportError:
                    outcomes["connection error"] += 1
                    time.sleep(0.1)
                    continue
                outcomes[f"{answer.headers.get(TRACK_HEADER)} {answer.status_code}"] += 1
                if answer.status_code == 200:
                    names = [d["class_name"] for d in answer.json()["detections"]]
                    if names.count("Normal") < 3:
                        outcomes["wrong answer"] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield outcomes
    finally:
        done.set()
        for thread in threads:
            thread.join()
        print(f"\n{url}: {dict(outcomes)}")


def grpc_detections(cli) -> list[int]:
    """The class ids tritonclient's gRPC client gets for bus.jpg through the fixed gRPC port."""
    client = tritonclient.grpc.InferenceServerClient(f"127.0.0.1:{cli.grpc_port}")
    image = np.asarray(Image.open(BUS_JPG).convert("RGB"), dtype=np.uint8)
    tensor = tritonclient.grpc.InferInput("image", list(image.shape), "UINT8")
    tensor.set_data_from_numpy(image)
    return client.infer("yolo", [tensor]).as_numpy("class_ids").tolist()


def proxy_pid(cli) -> int:
    return json.loads((cli.out / "local" / ENV / "yolo.proxy.json").read_text())["pid"]


def test_canary_promotes_a_good_version_rolls_back_a_bad_one_and_the_port_never_closes(cli):
    url = f"http://127.0.0.1:{cli.http_port}/predict"
    cli("apply", "yolo", "--env", ENV)
    (first,) = local_repo.pods(ENV)
    assert daemons.alive(proxy_pid(cli))
    assert grpc_detections(cli).count(0) >= 3  # class 0: "Normal", as the REST answers name it

    # 2. A good new version, judged as a canary with half the requests, is promoted.
    handler = cli.root / "models/yolo/handler.py"
    good = handler.read_text()
    handler.write_text(good + "\n# a change to app code only\n")
    with clients(url) as seen:
        time.sleep(2)
        promoted = cli("apply", "yolo", "--env", ENV, "--canary", "50")
        time.sleep(2)
    assert "canary gets 50% of requests" in promoted.stderr and "canary promoted" in promoted.stderr
    assert seen["canary 200"] >= POLICY["minRequests"] and seen["stable 200"] > 0, seen
    assert seen["connection error"] == 0 and seen["wrong answer"] == 0, seen
    assert set(seen) <= {"canary 200", "stable 200"}, seen
    (second,) = local_repo.pods(ENV)
    assert second["Id"] != first["Id"]
    assert len(cli("history", "yolo", "--env", ENV).stdout.splitlines()) == 2

    # 3. A version that is ready but fails every request is rolled back; the stable pod stays.
    handler.write_text(good + BROKEN)
    with clients(url) as seen:
        rejected = cli("apply", "yolo", "--env", ENV, "--canary", "50", check=False)
        time.sleep(2)
    assert rejected.returncode == 2, rejected.stderr
    last = rejected.stderr.strip().splitlines()[-1]
    assert "canary rolled back, maxErrorRatio 0.05 breached: 1.000" in last, last  # measured: all 5xx
    assert "the stable version serves on" in last
    assert seen["canary 500"] >= POLICY["minRequests"] and seen["stable 200"] > 0, seen
    assert seen["connection error"] == 0 and seen["wrong answer"] == 0, seen
    assert [p["Id"] for p in local_repo.pods(ENV)] == [second["Id"]]
    assert len(cli("history", "yolo", "--env", ENV).stdout.splitlines()) == 2  # not recorded
    with clients(url) as after:
        time.sleep(3)
    assert set(after) == {"stable 200"}, after  # nothing routed to the removed canary

    # 4. A plain replacement (rollback to revision 1) under load: the fixed port never closes.
    handler.write_text(good)
    with clients(url) as seen:
        back = cli("rollback", "yolo", "--env", ENV, "--to", "1")
        time.sleep(2)
    assert "(rollback to 1)" in back.stdout
    assert set(seen) == {"stable 200"}, seen
    (third,) = local_repo.pods(ENV)
    assert third["Id"] != second["Id"]
    assert grpc_detections(cli).count(0) >= 3  # the gRPC port moved to the new pod as well

    # 5. Delete stops the proxy and removes every pod.
    pid = proxy_pid(cli)
    cli("delete", "yolo", "--env", ENV)
    assert local_repo.pods(ENV) == []
    assert not daemons.alive(pid) and not daemons.port_in_use(cli.http_port)
