"""GitOps: every model's resolved manifests for one environment, written where Argo CD or Flux
syncs from, instead of applied by servectl.

``export(env, directory)`` writes ``directory/<env>/``:

- ``platform.yaml``: the shared objects (Namespace, ServiceAccount, RBAC, default-deny policy),
  once, however many models share them;
- ``<model>.yaml``: each model's own objects, images pinned by digest;
- ``kustomization.yaml``: lists them (``kubectl kustomize``, Argo CD and Flux's kustomize-controller
  read it as is).

Deterministic: the same inputs and digests give the same bytes (no timestamps, fixed order), so a
commit shows exactly what changed. ``directory/<env>/`` belongs to export: it is replaced whole
(a model taken out of the environment disappears, and the GitOps tool prunes it), never half
written; a directory export did not write is refused rather than replaced.

``commit_to(repo, branch, env)`` does the same in a clone of a git repository and pushes one
commit when something changed (``servectl export --env ENV --commit-to REPO --branch B``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import yaml

from tools.errors import UserError
from tools.k8s.kinds import is_shared
from tools.k8s.render import render_inputs, to_yaml
from tools.k8s.render.inputs import load_inputs
from tools.k8s.render.resolve import resolve_documents
from tools.k8s.schema.catalog import Catalog
from tools.paths import REPO_ROOT

HEADER = "# Written by `servectl export --env {env}`: do not edit, export again.\n"
PLATFORM_FILE = "platform.yaml"
KUSTOMIZATION = "kustomization.yaml"


def render_environment(
    env: str,
    digests: Mapping[str, str] | None = None,
    *,
    models: list[str] | None = None,
    root: Path = REPO_ROOT,
) -> dict[str, str]:
    """File name -> content for ``env``'s directory (every model of the environment, or ``models``)."""
    catalog = Catalog(root)
    environment = catalog.environment(env)
    names = sorted(models or environment.models)
    shared: list[dict] | None = None
    files: dict[str, str] = {}
    for name in names:
        inputs = load_inputs(name, env, root=root, catalog=catalog)
        objects = resolve_documents(render_inputs(inputs), environment.registry, digests)
        own_shared = [o for o in objects if is_shared(o)]
        if shared is None:
            shared = own_shared
        elif own_shared != shared:  # only platform.yaml and the environment shape them
            raise UserError(f"{name}'s shared objects differ from {names[0]}'s; they cannot be written once")
        files[f"{name}.yaml"] = HEADER.format(env=env) + to_yaml([o for o in objects if not is_shared(o)])
    files[PLATFORM_FILE] = HEADER.format(env=env) + to_yaml(shared or [])
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [PLATFORM_FILE, *(f"{name}.yaml" for name in names)],
    }
    files[KUSTOMIZATION] = HEADER.format(env=env) + yaml.safe_dump(kustomization, sort_keys=False)
    return files


def export(
    env: str,
    directory: Path,
    digests: Mapping[str, str] | None = None,
    *,
    models: list[str] | None = None,
    root: Path = REPO_ROOT,
) -> Path:
    """Writes ``directory/<env>/`` (replacing what export wrote there before); returns that path."""
    files = render_environment(env, digests, models=models, root=root)  # every error before any write
    target = directory / env
    if target.exists() and any(target.iterdir()):
        written = target / KUSTOMIZATION
        if not (written.is_file() and written.read_text(encoding="utf-8").startswith(HEADER.format(env=env))):
            raise UserError(
                "not written by `servectl export`: refusing to replace it (choose another directory)",
                file=target,
            )
    directory.mkdir(parents=True, exist_ok=True)
    staging, old = directory / f".{env}.new", directory / f".{env}.old"
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    staging.mkdir()
    for name, text in sorted(files.items()):
        (staging / name).write_text(text, encoding="utf-8")
    if target.exists():
        target.rename(old)
    staging.rename(target)  # the switch: readers see the old directory or the new one, whole
    shutil.rmtree(old, ignore_errors=True)
    return target


def commit_to(
    repo: str,
    branch: str,
    env: str,
    digests: Mapping[str, str] | None = None,
    *,
    models: list[str] | None = None,
    root: Path = REPO_ROOT,
) -> str | None:
    """Exports into a clone of ``repo`` (any URL or path git takes) at ``branch``, commits
    ``<env>/`` and pushes; returns the new commit, or None when nothing changed (same inputs, same
    bytes: no empty commits). A branch the repository lacks is created. Author and credentials are
    git's own (user.name/user.email, credential helpers, ssh keys)."""
    render_environment(env, digests, models=models, root=root)  # every input error before git runs
    with tempfile.TemporaryDirectory(prefix="servectl-export-") as tmp:
        checkout = Path(tmp) / "checkout"
        heads = _git(None, "ls-remote", "--heads", repo, branch)
        if heads.strip():
            _git(None, "clone", "--quiet", "--depth", "1", "--branch", branch, repo, str(checkout))
        else:
            checkout.mkdir()
            _git(checkout, "init", "--quiet")
            _git(checkout, "checkout", "--quiet", "-b", branch)
            _git(checkout, "remote", "add", "origin", repo)
        export(env, checkout, digests, models=models, root=root)
        _git(checkout, "add", "--all", "--", env)
        if not _git(checkout, "status", "--porcelain", "--", env).strip():
            return None
        _git(checkout, "commit", "--quiet", "-m", f"servectl export --env {env}")
        _git(checkout, "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}")
        return _git(checkout, "rev-parse", "HEAD").strip()


def _git(cwd: Path | None, *args: str) -> str:
    """Runs git; a failure is one line with git's own reason (refused push, unknown repo, no author)."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        reason = " ".join(line.strip() for line in proc.stderr.strip().splitlines()[-3:])
        raise UserError(f"git {args[0]} failed: {reason or f'exit {proc.returncode}'}; nothing was pushed")
    return proc.stdout
