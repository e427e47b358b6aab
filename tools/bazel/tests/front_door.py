"""What the front door tests share: the runnable wrappers' templates rendered as their rules do,
a runfiles tree whose CLI is the real `python -m tools`, a scratch repo with an environment on a
free registry port, and real OCI layouts as rules_oci's oci_image leaves them."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from tools.paths import REPO_ROOT


def quote(text: str) -> str:
    """shell_quote of tools/k8s/private/runner_files.bzl."""
    return "'" + text.replace("'", "'\\''") + "'"


def pairs(labelled: dict[str, str]) -> str:
    """labelled_files' second result: "'LABEL=RUNFILES_PATH' ..." in the attribute's order."""
    return " ".join(quote(f"{label}={rpath}") for label, rpath in labelled.items())


def render(template: Path, path: Path, substitutions: dict[str, str]) -> None:
    """ctx.actions.expand_template of `template` to `path`, executable."""
    text = template.read_text(encoding="utf-8")
    for key, value in substitutions.items():
        text = text.replace(key, value)
    assert "%{" not in text, "a substitution the rule makes is missing here"
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def cli_launcher(runfiles: Path, repo: Path, *, cd: bool = True) -> Path:
    """Where rules_python's py_binary launcher stands in the runfiles (`_main/tools/servectl`): runs
    the same CLI from `repo`; cd=False keeps the caller's directory (the launcher does not change it)."""
    cli = runfiles / "_main" / "tools" / "servectl"
    cli.parent.mkdir(parents=True, exist_ok=True)
    if cd:
        body = f'cd "{repo}"\nexec "{sys.executable}" -m tools "$@"\n'
    else:
        body = f'export PYTHONPATH="{repo}"\nexec "{sys.executable}" -m tools "$@"\n'
    cli.write_text("#!/usr/bin/env bash\n" + body)
    cli.chmod(0o755)
    return cli


def scratch_repo(tmp_path: Path, registry_port: int) -> Path:
    """A copy of the repo's tracked files plus one environment, `bazeltest` (local's models), whose
    registry is a free loopback port (the fixed local one, 127.0.0.1:5000, is shared)."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    ).stdout.split("\0")
    copy = tmp_path / "repo"
    for name in filter(None, files):
        source = REPO_ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    env = yaml.safe_load((copy / "platform/environments/local.yaml").read_text())
    env["registry"] = f"127.0.0.1:{registry_port}"
    (copy / "platform/environments/bazeltest.yaml").write_text(yaml.safe_dump(env))
    return copy


def oci_layout(directory: Path, text: str = "hello from a bazel-built image\n") -> str:
    """A real one-layer OCI layout, as rules_oci's oci_image leaves it (index.json + blobs); returns
    its manifest digest (what rules_oci's `<image>.digest` file holds)."""
    from tools.oci.cache import store_layer
    from tools.oci.layout import write_layout

    root = directory.parent / f"{directory.name}.rootfs"
    (root / "app").mkdir(parents=True)
    (root / "app" / "hello.txt").write_text(text)
    blob = store_layer("front-door-test", root)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["python3"], "User": "65532:65532"},
        "rootfs": {"type": "layers", "diff_ids": [blob.diff_id]},
    }
    digest, _ = write_layout(directory, config, [blob])
    return digest
