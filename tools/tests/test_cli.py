"""The servectl CLI as a user meets it: help on every verb, one-line errors, nothing changed.

Each case runs the real CLI in a subprocess (``python -m tools``) and checks its exit code and
that it printed exactly one ``error:`` line without a traceback.
"""

from __future__ import annotations

import subprocess

import pytest

from tools.cli import VERBS
from tools.testing.cli import servectl
from tools.testing.ports import free_port  # nothing listens there: an unreachable server


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_help_lists_every_verb():
    proc = servectl("--help")
    assert proc.returncode == 0
    for verb in VERBS:
        assert verb in proc.stdout


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_has_help(verb):
    proc = servectl(verb, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: servectl " + verb)


@pytest.fixture
def unreachable_kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {{server: "https://127.0.0.1:{free_port()}", insecure-skip-tls-verify: true}}
users:
- name: someone
  user: {{token: not-a-real-token}}
contexts:
- name: creativeflow-staging
  context: {{cluster: gone, user: someone}}
- name: creativeflow-prod
  context: {{cluster: gone, user: someone}}
current-context: creativeflow-prod
"""
    )
    return path


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("frobnicate",), "invalid choice: 'frobnicate'"),
        (("resolve",), "the following arguments are required: model"),
        (("resolve", "yolo", "--env", "nowhere"), "nowhere"),
        (("resolve", "nosuchmodel", "--env", "local"), "nosuchmodel"),
        (("resolve", "yolo", "--digest-file", "//models/yolo:image=/no/such/file"), "/no/such/file"),
        (("resolve", "yolo", "--digest", "//models/yolo:image=sha256:abc"), "sha256"),
        (("apply", "yolo", "--env", "staging", "--kubeconfig", "/no/such/kubeconfig"), "no kubeconfig"),
        (("artifacts", "//models/yolo:nosuchtarget"), "nosuchtarget"),
        (("build", "//no/such/package:image"), "BUILD.bazel"),
    ],
)
def test_user_errors_are_one_line(args, expected):
    assert expected in one_error_line(servectl(*args))


def test_unreachable_api_server_fails_before_anything_is_built(unreachable_kubeconfig, tmp_path):
    build = tmp_path / "build"
    proc = servectl(
        "apply",
        "yolo",
        "--env",
        "staging",
        "--kubeconfig",
        str(unreachable_kubeconfig),
        env={"CF_BUILD_DIR": str(build)},
    )
    line = one_error_line(proc)
    assert "cannot reach the API server" in line and "nothing was sent" in line
    assert not (build / "images").exists()  # it stopped before building or pushing


@pytest.mark.parametrize("verb", ["diff", "delete", "status"])
def test_cluster_verbs_fail_cleanly_when_unreachable(verb, unreachable_kubeconfig):
    proc = servectl(verb, "yolo", "--env", "prod", "--kubeconfig", str(unreachable_kubeconfig))
    assert "cannot reach the API server" in one_error_line(proc)


def test_predict_with_a_url_needs_no_cluster(tmp_path):
    """--url goes straight to the model's client: no kubeconfig is read, nothing is connected."""
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: the client's own error comes back
    proc = servectl(
        "predict", "yolo", "--env", "staging", "--url", url, env={"KUBECONFIG": str(tmp_path / "none")}
    )
    line = one_error_line(proc)
    assert url in line and "kubeconfig" not in line
