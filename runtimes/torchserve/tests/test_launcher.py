"""The launcher: its config and errors, and the real TorchServe's life under it (drain, exit codes).

The real-server tests archive a tiny handler with torch-model-archiver at test time and run it with
``--torch-shim always``, as the torch-less image does.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from runtimes.torchserve import launcher
from runtimes.torchserve.launcher import CONFIG_FILE, PORTS, ServeOptions, read_properties
from runtimes.torchserve.local import TorchServeProcess
from tools.errors import UserError
from tools.k8s.schema.specs import load_runtime
from tools.paths import REPO_ROOT

# Sleeps for the seconds in the body, then says whether `torch` in the worker is the stand-in.
PROBE_HANDLER = """
import time
import torch

class Probe:
    def initialize(self, context):
        self.initialized = True

    def handle(self, batch, context):
        answers = []
        for row in batch:
            time.sleep(float(row.get("body") or row.get("data") or 0))
            answers.append({"not_torch": getattr(torch, "NOT_TORCH", False)})
        return answers
"""


@pytest.fixture(scope="module")
def probe_store(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("probe")
    (work / "probe.py").write_text(textwrap.dedent(PROBE_HANDLER))
    store = work / "store"
    store.mkdir()
    argv = ["torch-model-archiver", "--model-name=probe", "--version=1", f"--handler={work / 'probe.py'}"]
    argv.append(f"--export-path={store}")
    code = (
        "import sys; from model_archiver.model_packaging import generate_model_archive as run; "
        "sys.argv = %r; run()"
    )
    subprocess.run([sys.executable, "-c", code % argv], check=True)
    return store


def post(server: TorchServeProcess, body: bytes, timeout: float = 60) -> tuple[int, bytes]:
    request = urllib.request.Request(
        server.url("inference") + "/predictions/probe",
        data=body,
        headers={"Content-Type": "application/octet-stream"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, ConnectionError) as error:
        return 0, str(error).encode()


def test_config_file_binds_inference_and_metrics_for_the_service_and_management_to_loopback():
    props = read_properties(CONFIG_FILE.read_text())
    assert props["inference_address"] == "http://0.0.0.0:8080"
    assert props["metrics_address"] == "http://0.0.0.0:8082"
    assert props["management_address"] == "http://127.0.0.1:8081"
    assert props["metrics_mode"] == "prometheus"
    assert props["enable_model_api"] == "false"


def test_runtime_yaml_ports_are_the_config_files_ports():
    runtime = load_runtime("torchserve")
    ports = {p.name: p.containerPort for p in runtime.ports}
    assert ports == {"http": PORTS["inference"], "metrics": PORTS["metrics"]}
    assert runtime.metrics.port == "metrics" and runtime.metrics.path == "/metrics"
    assert {runtime.probes.startup.httpGet.path, runtime.probes.liveness.httpGet.path} == {"/ping"}


def test_run_config_overrides_only_addresses_ports_and_store(tmp_path):
    options = ServeOptions(
        model_store=tmp_path, address="127.0.0.1", ports={"inference": 1, "management": 2, "metrics": 3}
    )
    config = options.config()
    assert config["inference_address"] == "http://127.0.0.1:1"
    assert config["management_address"] == "http://127.0.0.1:2"
    assert config["model_store"] == str(tmp_path)
    base = read_properties(CONFIG_FILE.read_text())
    untouched = {k: v for k, v in base.items() if not k.endswith("_address") and k != "model_store"}
    assert {k: config[k] for k in untouched} == untouched
    # Without --address the pod's bind addresses stay, and clients still reach them over loopback.
    pod = ServeOptions(model_store=tmp_path)
    assert pod.config()["inference_address"] == "http://0.0.0.0:8080"
    assert pod.url("inference") == "http://127.0.0.1:8080"


def test_the_command_is_torchserves_own_cli_in_the_foreground(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (store / "m.mar").write_bytes(b"")
    command, env = ServeOptions(
        model_store=store, models=("m=m.mar",), work_dir=tmp_path / "w", torch_shim="always"
    ).prepare()
    assert command[:4] == [sys.executable, "-m", "ts.model_server", "--start"]
    assert "--foreground" in command and "--ncs" in command
    assert command[-2:] == ["--models", "m=m.mar"]
    assert env["TMPDIR"] == env["TEMP"] == str(tmp_path / "w" / "tmp")
    assert env["PYTHONPATH"].split(os.pathsep)[-1] == str(launcher.NO_TORCH_DIR)
    assert (tmp_path / "w" / "config.properties").is_file()


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--model-store", "/nonexistent"], "--model-store"),
        (["--models", "yolo=missing.mar"], "--models"),
        (["--models", "../../etc/passwd"], "--models"),
        (["--torch-shim", "sometimes"], "--torch-shim"),
    ],
)
def test_bad_arguments_are_one_line_errors_with_exit_2(tmp_path, argv, field):
    argv = argv if argv[0] == "--model-store" else ["--model-store", str(tmp_path), *argv]
    result = subprocess.run(
        [sys.executable, "-m", "runtimes.torchserve.launcher", *argv, "--dry-run"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert result.returncode == UserError.exit_code
    assert result.stderr.startswith(f"error: {field}: ") and "Traceback" not in result.stderr


def test_sigterm_drains_requests_in_flight_then_exits_0(probe_store, tmp_path):
    server = TorchServeProcess(probe_store, ["probe=probe.mar"], tmp_path).start().wait_ready()
    try:
        status, body = post(server, b"0")
        assert status == 200 and b'"not_torch": true' in body  # the worker ran on the stand-in
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            # One worker: these run one after another, the last finishing ~1.6 s after SIGTERM.
            arrived = launcher.inference_requests_total(server.url("metrics"))
            futures = [pool.submit(post, server, b"0.4") for _ in range(4)]
            # In flight means TorchServe has them (counted on arrival), however loaded the machine.
            deadline = time.monotonic() + 60
            while launcher.inference_requests_total(server.url("metrics")) < arrived + 4:
                assert time.monotonic() < deadline, "the 4 requests never reached TorchServe"
                time.sleep(0.05)
            server.process.send_signal(signal.SIGTERM)
            assert not all(f.done() for f in futures)  # one worker, 0.4 s each: some still queued
            results = [f.result() for f in futures]
        assert [status for status, _ in results] == [200] * 4, results
        assert server.process.wait(60) == 0
    finally:
        server.stop()
    assert "drain: idle" in server.log()


def test_torchserve_dying_on_its_own_is_exit_1_not_a_clean_stop(probe_store, tmp_path):
    server = TorchServeProcess(probe_store, ["probe=probe.mar"], tmp_path).start().wait_ready()
    try:
        import psutil

        (java,) = [
            p for p in psutil.Process(server.process.pid).children(recursive=True) if "java" in p.name()
        ]
        java.kill()
        assert server.process.wait(60) == 1
    finally:
        server.stop()
    assert "stopped by itself" in server.log()
