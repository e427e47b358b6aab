"""The yolo-torchserve image's server as the container tests start it: its three APIs on free
loopback ports, and bus.jpg posted until TorchServe has loaded yolo and answers."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tools.testing.ports import free_port

APIS = ("inference", "management", "metrics")


def loopback_api_args() -> tuple[dict[str, int], list[str]]:
    """(api -> free port, the launcher's arguments binding each API there on 127.0.0.1)."""
    ports = {api: free_port() for api in APIS}
    args = ["--address", "127.0.0.1"]
    for api, port in ports.items():
        args += [f"--{api}-port", str(port)]
    return ports, args


def predict_when_up(
    inference_port: int, image: bytes, running: Callable[[], bool], seconds: float
) -> httpx.Response | None:
    """POSTs ``image`` to /predictions/yolo every second until a 200, the server process ends
    (``running`` false) or ``seconds`` pass; the last answer, or None if none came."""
    deadline, answer = time.monotonic() + seconds, None
    while time.monotonic() < deadline and running():
        try:
            answer = httpx.post(
                f"http://127.0.0.1:{inference_port}/predictions/yolo",
                content=image,
                headers={"Content-Type": "image/jpeg"},
                timeout=60,
            )
            if answer.status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(1)
    return answer
