"""The launcher: the prepared server tree, the exact command and environment, the real server's life."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from runtimes.triton import launcher
from runtimes.triton.deploy_config import config_files
from runtimes.triton.launcher import LaunchOptions, prepare_server_dir
from runtimes.triton.local import free_tcp_ports, local_server
from tools.errors import UserError
from tools.paths import REPO_ROOT


def test_command_spells_out_every_address_port_and_directory(tmp_path):
    options = LaunchOptions(
        model_repository=tmp_path / "models",
        address="0.0.0.0",
        http_port=18000,
        grpc_port=18001,
        metrics_port=18002,
        server_dir=tmp_path / "server",
        model_config_name="cpu",
    )
    command = options.command()
    assert command[0] == str(tmp_path / "server" / "bin" / "tritonserver")
    for flag in (
        f"--model-repository={tmp_path / 'models'}",
        f"--backend-directory={tmp_path / 'server' / 'backends'}",
        f"--cache-directory={tmp_path / 'server' / 'caches'}",
        "--http-address=0.0.0.0",
        "--grpc-address=0.0.0.0",
        "--metrics-address=0.0.0.0",
        "--http-port=18000",
        "--grpc-port=18001",
        "--metrics-port=18002",
        "--strict-readiness=true",
        "--model-config-name=cpu",
    ):
        assert flag in command
    # Clients of a server bound to every interface still connect over loopback.
    assert options.http_url == "http://127.0.0.1:18000"
    assert options.grpc_url == "grpc://127.0.0.1:18001"
    assert options.metrics_url == "http://127.0.0.1:18002/metrics"


def test_environment_puts_this_interpreter_first_and_the_bundled_libraries_on_the_path(tmp_path):
    env = LaunchOptions(model_repository=tmp_path).environment(
        {"PATH": "/usr/bin", "LD_LIBRARY_PATH": "/opt/x"}
    )
    assert env["PATH"].split(os.pathsep) == [str(Path(sys.executable).parent), "/usr/bin"]
    lib_dirs = env["LD_LIBRARY_PATH"].split(os.pathsep)
    assert any(path.name.startswith("libcudart") for path in Path(lib_dirs[0]).iterdir())
    assert lib_dirs[-1] == "/opt/x"


def test_an_environment_without_bash_is_refused_before_the_server_hangs(tmp_path):
    with pytest.raises(UserError, match="bash is not on PATH"):
        LaunchOptions(model_repository=tmp_path).checked_environment({"PATH": str(tmp_path)})


def test_a_system_without_bin_sh_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "SYSTEM_SHELL", str(tmp_path / "no-sh"))
    with pytest.raises(UserError, match="no-sh is missing"):
        LaunchOptions(model_repository=tmp_path).checked_environment()


def test_prepare_copies_the_server_once_with_the_stub_for_this_python(tmp_path):
    server_dir = prepare_server_dir(tmp_path / "server")
    stub = server_dir / "backends" / "python" / launcher.STUB_NAME
    assert os.access(stub, os.X_OK)
    assert os.access(server_dir / "bin" / "tritonserver", os.X_OK)
    assert not (server_dir / "python_backend_stubs").exists()  # other Pythons' stubs stay behind

    before = stub.stat().st_mtime_ns
    time.sleep(0.01)
    assert prepare_server_dir(server_dir) == server_dir
    assert stub.stat().st_mtime_ns == before  # reused, not copied again


def test_prepare_fills_an_existing_empty_directory(tmp_path):
    (tmp_path / "server").mkdir()  # e.g. an image's /opt/tritonserver, or a mounted volume
    server_dir = prepare_server_dir(tmp_path / "server")
    assert (server_dir / "backends" / "python" / launcher.STUB_NAME).is_file()


def test_a_prepared_tree_others_can_write_to_is_not_run(tmp_path):
    server_dir = prepare_server_dir(tmp_path / "server")
    server_dir.chmod(0o777)
    with pytest.raises(UserError, match="writable by others"):
        prepare_server_dir(server_dir)


def test_prepare_refuses_a_directory_it_did_not_make(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not a prepared tritonserver directory"):
        prepare_server_dir(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_cli_without_a_model_repository_is_a_one_line_error(tmp_path, capsys):
    assert launcher.main(["--model-repository", str(tmp_path / "absent")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"error: --model-repository: model repository {tmp_path / 'absent'} is not a directory"
    )


def test_cli_dry_run_prints_the_command(tmp_path, capsys):
    assert launcher.main(["--model-repository", str(tmp_path), "--address", "0.0.0.0", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "--http-address=0.0.0.0 --http-port=8000" in out
    assert "LD_LIBRARY_PATH=" in out


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_cli_execs_tritonserver_which_keeps_the_pid_and_stops_on_sigterm(tmp_path):
    http_port, grpc_port, metrics_port = free_tcp_ports(3)
    command = [sys.executable, "-m", "runtimes.triton.launcher", "--model-repository", str(tmp_path)]
    ports = [f"--http-port={http_port}", f"--grpc-port={grpc_port}", f"--metrics-port={metrics_port}"]
    process = subprocess.Popen(
        [*command, *ports],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _ready(f"http://127.0.0.1:{http_port}"):
            assert process.poll() is None, f"launcher exited with {process.returncode}"
            assert time.monotonic() < deadline, "tritonserver was not ready in 60 s"
            time.sleep(0.2)
        # The PID we started is the server itself: a kubelet's SIGTERM reaches Triton, not a wrapper.
        assert Path(f"/proc/{process.pid}/exe").resolve().name == "tritonserver"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_a_model_that_cannot_load_stops_the_server_with_the_models_own_error(tmp_path):
    # gpt2's config rendered for a GPU environment, on this machine without GPUs.
    model_dir = tmp_path / "repo" / "gpt2"
    (model_dir / "1").mkdir(parents=True)
    (model_dir / "config.pbtxt").write_text(
        config_files(REPO_ROOT / "models" / "gpt2", "gpt2", True)["config.pbtxt"]
    )
    server = local_server(tmp_path / "repo", log_file=tmp_path / "server.log")
    with pytest.raises(UserError, match="kind KIND_GPU but no GPUs are available") as raised, server:
        pass
    assert "exited with code 1 before it was ready" in str(raised.value)
    assert server.process.poll() is not None
