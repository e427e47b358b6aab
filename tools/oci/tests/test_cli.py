"""The three verbs as a user runs them: ``python -m tools registry|build|push``."""

from __future__ import annotations

import json
import subprocess

import pytest

from tools.oci.cache import seed_downloads
from tools.oci.tests.conftest import free_port
from tools.oci.tests.helpers import HELLO
from tools.testing.cli import servectl as run_servectl

pytestmark = pytest.mark.container  # also run in the pristine root (./dev rehearse)


@pytest.fixture
def build_dir(tmp_path):
    """A build dir of the CLI tests' own: the CLI builds the real checkout's hello package, which
    must not share a layer cache or image outputs with the other modules' edited copy of it."""
    path = tmp_path / "build"
    seed_downloads(path)
    return path


def servectl(*args: str, build_dir):
    return run_servectl(*args, env={"CF_BUILD_DIR": str(build_dir)})


def test_registry_start_status_stop(build_dir):
    port = str(free_port())
    started = servectl("registry", "start", "--port", port, build_dir=build_dir)
    try:
        assert started.returncode == 0, started.stderr
        assert f"127.0.0.1:{port}" in started.stdout
        again = servectl("registry", "start", "--port", port, build_dir=build_dir)
        assert again.returncode == 0 and again.stdout == started.stdout  # idempotent: same pid
        assert servectl("registry", "status", build_dir=build_dir).returncode == 0
    finally:
        assert servectl("registry", "stop", build_dir=build_dir).stdout.strip() == "registry stopped"
    status = servectl("registry", "status", build_dir=build_dir)
    assert status.returncode == 3 and status.stdout.strip() == "registry not running"


def test_registry_stop_refuses_a_pid_that_is_not_the_registry(build_dir):
    port = str(free_port())
    assert servectl("registry", "start", "--port", port, build_dir=build_dir).returncode == 0
    state_file = build_dir / "registry" / "registry.json"
    real = json.loads(state_file.read_text())
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        state_file.write_text(json.dumps({**real, "pid": bystander.pid}))
        refused = servectl("registry", "stop", build_dir=build_dir)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.strip() == (
            f"error: {state_file}: pid {bystander.pid} is not the registry started here "
            "(it runs: sleep 300); not stopping it (the registry recorded here is gone; delete this file)"
        )
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
        state_file.write_text(json.dumps(real))
        assert servectl("registry", "stop", build_dir=build_dir).stdout.strip() == "registry stopped"


def test_build_prints_the_digest_and_push_to_a_dead_registry_is_one_line(build_dir):
    label = f"//{HELLO}:image"
    built = servectl("build", label, build_dir=build_dir)
    assert built.returncode == 0, built.stderr
    digest = (build_dir / "images" / HELLO / "image.digest").read_text().strip()
    assert built.stdout.strip() == f"{label} {digest}"
    assert "[1/" in built.stderr  # the progress display
    pushed = servectl("push", label, "--registry", f"127.0.0.1:{free_port()}", build_dir=build_dir)
    assert pushed.returncode == 2
    errors = [line for line in pushed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "is not reachable" in errors[0], pushed.stderr
    assert "Traceback" not in pushed.stderr
    assert not (build_dir / "images" / HELLO / "image.digest.pushed").exists()


def test_unknown_model_is_a_user_error(build_dir):
    result = servectl("build", "no-such-model", build_dir=build_dir)
    assert result.returncode == 2
    assert "neither an image label" in result.stderr and "Traceback" not in result.stderr
