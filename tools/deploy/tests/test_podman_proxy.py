"""The podman target's front proxy as a real daemon (tools/deploy/podman/front.py, proxy.py) in
front of two real HTTP servers (Python's http.server, one per "pod"): weighted routing, moving
the port between pods without an error, TCP forwarding of the non-HTTP port, and the pid file
only ever signalling our own proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest

from tools import daemons
from tools.deploy.podman.front import Backend, Front
from tools.deploy.podman.proxy import TRACK_HEADER
from tools.errors import UserError
from tools.testing.ports import free_port


@pytest.fixture
def pods(tmp_path):
    """Two stand-in pods, A and B, each answering GET /who with its name on two ports."""
    started, ports = [], {}
    for name in ("A", "B"):
        root = tmp_path / name
        root.mkdir()
        (root / "who").write_text(name)
        ports[name] = {"http": free_port(), "grpc": free_port()}
        for port in ports[name].values():
            command = [
                sys.executable,
                "-m",
                "http.server",
                str(port),
                "--bind",
                "127.0.0.1",
                "--directory",
                str(root),
            ]
            started.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for port in (p for named in ports.values() for p in named.values()):
        while not daemons.port_in_use(port):
            time.sleep(0.05)
    yield ports, started
    for process in started:
        process.terminate()
        process.wait()


@pytest.fixture
def front(tmp_path):
    made = Front(tmp_path, "demo")
    yield made
    made.remove()


def test_weights_move_and_the_port_never_refuses(pods, front):
    ports, started = pods
    listen = {"http": free_port(), "grpc": free_port()}
    front.route(listen, [Backend("stable", "a", 100, ports["A"])])
    url = f"http://127.0.0.1:{listen['http']}/who"
    with httpx.Client() as http:
        answer = http.get(url)
        assert (answer.text, answer.headers[TRACK_HEADER]) == ("A", "stable")
        # gRPC's port is forwarded per connection at TCP level: any protocol passes.
        assert httpx.get(f"http://127.0.0.1:{listen['grpc']}/who").text == "A"

        front.route(listen, [Backend("stable", "a", 50, ports["A"]), Backend("canary", "b", 50, ports["B"])])
        seen = Counter(http.get(url).text for _ in range(200))
        assert 50 <= seen["B"] <= 150, seen  # about half, per request even on one kept-alive client

        front.route(listen, [Backend("stable", "a", 100, ports["A"]), Backend("canary", "b", 0, ports["B"])])
        assert {http.get(url).text for _ in range(50)} == {"A"}  # weight 0: never routed to

        # B takes over; A stops right after: every request is answered, none by A.
        front.route(listen, [Backend("stable", "b", 100, ports["B"])])
        started[0].terminate()
        started[0].wait()
        assert {http.get(url).text for _ in range(50)} == {"B"}

        # A backend that refuses the connection is skipped for the next one listed.
        front.route(listen, [Backend("stable", "a", 100, ports["A"]), Backend("canary", "b", 1, ports["B"])])
        assert {http.get(url).text for _ in range(20)} == {"B"}


def test_the_pid_file_only_ever_stops_our_proxy(pods, front):
    ports, _ = pods
    listen = {"http": free_port()}
    front.route(listen, [Backend("stable", "a", 100, {"http": ports["A"]["http"]})])
    pid = front.pid()
    assert pid and daemons.alive(pid)
    # The recorded pid now names another live process (pids are reused): refused, not signalled.
    front.pid_file.write_text(json.dumps({"pid": os.getpid(), "listen": listen}))
    assert front.pid() is None
    with pytest.raises(UserError, match=f"pid {os.getpid()} is not demo's proxy"):
        front.stop()
    front.pid_file.write_text(json.dumps({"pid": pid, "listen": listen}))
    assert front.stop() and not daemons.alive(pid) and not daemons.port_in_use(listen["http"])


def test_a_taken_port_is_one_error_naming_it(front):
    port = free_port()
    with daemons.socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(UserError, match=rf"port\(s\) \[{port}\] on 127.0.0.1 are taken"):
            front.route({"http": port}, [Backend("stable", "a", 100, {"http": free_port()})])
