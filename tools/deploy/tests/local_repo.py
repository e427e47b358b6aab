"""A copy of the repo with its own podman environment, for tests that run yolo under real podman.

The copy can have its app code or model data edited; its environment file (a copy of `local`
with its own registry and host port, so a developer's running `local` demo is left alone) and its
own build dir share only the content-addressed layer cache and the model artifacts with the real
one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import yaml

from tools.deploy.podman.client import podman_env
from tools.paths import REPO_ROOT, build_dir
from tools.testing.cli import servectl
from tools.testing.ports import free_port


def repo_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return [f for f in out.decode().split("\0") if f]


def local_repo(tmp_path_factory, env: str) -> Iterator:
    """Yields ``cli(*args, check=True)``, servectl run in the copy, with ``root``, ``out``,
    ``registry_port`` and ``http_port`` attributes; deletes yolo and stops the registry after."""
    root = tmp_path_factory.mktemp("repo")
    for rel in repo_files():
        src = REPO_ROOT / rel
        if src.is_file():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / rel)
    env_data = yaml.safe_load((root / "platform/environments/local.yaml").read_text())
    registry_port, http_port = free_port(), free_port()
    env_data["registry"] = f"127.0.0.1:{registry_port}"
    env_data["models"] = {"yolo": {**env_data["models"]["yolo"], "hostPorts": {"http": http_port}}}
    (root / f"platform/environments/{env}.yaml").write_text(yaml.safe_dump(env_data))

    out = tmp_path_factory.mktemp("build")
    shared = build_dir()
    for reused in ("cache", "artifacts"):  # content-addressed: safe to share, slow to rebuild
        (shared / reused).mkdir(parents=True, exist_ok=True)
        (out / reused).symlink_to(shared / reused)

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = servectl(*args, cwd=root, env={"CF_BUILD_DIR": str(out)}, timeout=900)
        if check and proc.returncode != 0:
            pytest.fail(f"servectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc

    cli.root, cli.out, cli.registry_port, cli.http_port = root, out, registry_port, http_port
    yield cli
    cli("delete", "yolo", "--env", env, check=False)
    cli("registry", "stop", check=False)
    cli("prometheus", "stop", "--env", env, check=False)


def pods(env: str) -> list[dict]:
    """The pods podman runs for ``env`` (by the environment label the podman target sets)."""
    proc = subprocess.run(
        ["podman", "pod", "ps", "--format", "json", "--filter", f"label=servectl.io/environment={env}"],
        capture_output=True,
        text=True,
        env=podman_env(),
        check=True,
    )
    return json.loads(proc.stdout or "[]")
