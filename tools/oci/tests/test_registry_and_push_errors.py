"""The local registry runner and push failures, against a real docker-registry."""

from __future__ import annotations

import json
import socket
import subprocess

import httpx
import pytest

from tools.errors import UserError
from tools.labels import Label
from tools.oci import registry
from tools.oci.builder import build_image
from tools.oci.push import push_image, pushed_record_file
from tools.oci.tests.conftest import free_port
from tools.oci.tests.helpers import HELLO

pytestmark = pytest.mark.container  # also run in the pristine root (./dev rehearse)

IMAGE = Label(HELLO, "image")


def test_start_is_idempotent_status_reports_and_stop_stops(tmp_path):
    port = free_port()
    first = registry.start(port, state_dir=tmp_path)
    try:
        assert registry.start(port, state_dir=tmp_path).pid == first.pid
        assert registry.status(tmp_path) == first
        assert (tmp_path / "config.yml").read_text().count(f"addr: 127.0.0.1:{port}") == 1
    finally:
        assert registry.stop(state_dir=tmp_path) is True
    assert registry.status(tmp_path) is None
    assert registry.stop(state_dir=tmp_path) is False


def test_a_port_taken_by_something_else_is_a_clear_error(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(UserError, match=f"port {port} on 127.0.0.1 is taken by another process"):
            registry.start(port, state_dir=tmp_path)
    assert registry.status(tmp_path) is None


def test_stop_refuses_a_pid_file_that_names_another_process(tmp_path):
    """The pid in the state file was reused by something else (the registry died, the kernel moved
    on): stop must not kill it, and status must not take it for the registry."""
    port = free_port()
    state = registry.start(port, state_dir=tmp_path)
    state_file = tmp_path / "registry.json"
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        state_file.write_text(json.dumps({"pid": bystander.pid, "port": port}))
        with pytest.raises(
            UserError, match=f"pid {bystander.pid} is not the registry started here"
        ) as caught:
            registry.stop(state_dir=tmp_path)
        assert "\n" not in str(caught.value) and "runs: sleep 300" in str(caught.value)
        assert caught.value.file == str(state_file)
        assert bystander.poll() is None  # not signalled
        assert registry.status(tmp_path) is None
        assert httpx.get(f"http://{state.address}/v2/").status_code == 200  # nor was the real one
    finally:
        bystander.kill()
        bystander.wait()
        state_file.write_text(json.dumps({"pid": state.pid, "port": port}))
        assert registry.stop(state_dir=tmp_path) is True


@pytest.fixture(scope="module")
def built(build_dir, repo_copy):
    return build_image(IMAGE, root=repo_copy)


def test_local_registry_down_is_one_line_and_keeps_the_last_record(built, local_registry):
    push_image(IMAGE, local_registry.address)
    record = pushed_record_file(IMAGE).read_bytes()
    with pytest.raises(UserError, match=r"registry 127\.0\.0\.1:\d+ is not reachable") as caught:
        push_image(IMAGE, f"127.0.0.1:{free_port()}")
    assert "\n" not in str(caught.value)
    assert str(caught.value).endswith("start the local one with: python -m tools registry start")
    assert pushed_record_file(IMAGE).read_bytes() == record  # still true of the earlier push


def test_an_invalid_repository_is_refused_and_keeps_the_last_record(built, local_registry):
    push_image(IMAGE, local_registry.address)
    record = pushed_record_file(IMAGE).read_bytes()
    with pytest.raises(UserError, match=r"push to 127\.0\.0\.1:\d+/Not/Valid failed: .*lowercase"):
        push_image(IMAGE, local_registry.address, repository="Not/Valid")
    assert pushed_record_file(IMAGE).read_bytes() == record
