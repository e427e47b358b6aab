"""The local registry runner and push failures, against a real docker-registry."""

from __future__ import annotations

import socket

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


@pytest.fixture(scope="module")
def built(build_dir, repo_copy):
    return build_image(IMAGE, root=repo_copy)


def test_registry_down_is_one_line_and_leaves_no_record(built, local_registry):
    push_image(IMAGE, local_registry.address)
    assert pushed_record_file(IMAGE).exists()
    with pytest.raises(UserError, match=r"registry 127\.0\.0\.1:\d+ is not reachable") as caught:
        push_image(IMAGE, f"127.0.0.1:{free_port()}")
    assert "\n" not in str(caught.value)
    assert not pushed_record_file(IMAGE).exists()


def test_registry_rejecting_the_push_leaves_no_record(built, local_registry):
    # Distribution has no route for repository names with upper-case letters: a 404 on upload.
    with pytest.raises(UserError, match=r"rejected the upload of sha256:[0-9a-f]{64}: HTTP 404"):
        push_image(IMAGE, local_registry.address, repository="Not/Valid")
    assert not pushed_record_file(IMAGE).exists()
