"""``servectl prometheus start|stop|status`` as a user runs it: a real Prometheus on a free port,
started once (idempotent), found by status, stopped; bad input is one line and exit 2."""

from __future__ import annotations

import json
import socket
import subprocess

import yaml

from tools.testing.cli import servectl
from tools.testing.ports import free_port


def test_start_status_stop(tmp_path):
    env, port = {"CF_BUILD_DIR": str(tmp_path)}, free_port()
    assert servectl("prometheus", "status", env=env).returncode == 3
    try:
        started = servectl("prometheus", "start", "--port", str(port), env=env)
        assert started.returncode == 0, started.stderr
        assert f"http://127.0.0.1:{port}" in started.stdout
        again = servectl("prometheus", "start", "--port", str(port), env=env)
        assert again.returncode == 0 and again.stdout == started.stdout, "start is idempotent"
        assert servectl("prometheus", "status", env=env).returncode == 0
        config = yaml.safe_load((tmp_path / "prometheus" / "local" / "prometheus.yml").read_text())
        # The ports `local` publishes each model's metrics port on (platform/environments/local.yaml).
        targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
        assert targets == {
            "gpt2": ["127.0.0.1:18102"],
            "resnet50": ["127.0.0.1:18501"],
            "yolo": ["127.0.0.1:18000"],
            "yolo-torchserve": ["127.0.0.1:18202"],
        }
    finally:
        stopped = servectl("prometheus", "stop", env=env)
    assert stopped.stdout.strip() == "prometheus stopped"
    assert servectl("prometheus", "status", env=env).returncode == 3


def test_a_kubernetes_environment_is_refused(tmp_path):
    proc = servectl(
        "prometheus",
        "start",
        "--env",
        "prod",
        "--port",
        str(free_port()),
        env={"CF_BUILD_DIR": str(tmp_path)},
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "prod.yaml: cluster.kind:" in proc.stderr


def test_a_taken_port_is_one_line(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        proc = servectl("prometheus", "start", "--port", str(port), env={"CF_BUILD_DIR": str(tmp_path)})
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"error: port {port} on 127.0.0.1 is taken by another process; pick one with --port"
    )


def test_a_pid_file_naming_another_process_is_not_prometheus(tmp_path):
    """The recorded Prometheus died and the kernel gave its pid to something else, while a
    Prometheus still answers on the port: status must not take that process for ours and stop
    must not signal it."""
    env, port = {"CF_BUILD_DIR": str(tmp_path)}, free_port()
    state_file = tmp_path / "prometheus" / "local" / "prometheus.json"
    assert servectl("prometheus", "start", "--port", str(port), env=env).returncode == 0
    real = json.loads(state_file.read_text())
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        state_file.write_text(json.dumps({"pid": bystander.pid, "port": port}))
        assert servectl("prometheus", "status", env=env).returncode == 3
        servectl("prometheus", "stop", env=env)
        assert bystander.poll() is None, "stop signalled a process that is not our Prometheus"
    finally:
        bystander.kill()
        bystander.wait()
        state_file.write_text(json.dumps(real))
        assert servectl("prometheus", "stop", env=env).returncode == 0
