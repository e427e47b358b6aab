"""Fixtures: a private build dir (real .debs and model artifacts reused), the builder's small
``hello`` image built for real, throwaway signing keys and a policy file naming them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.labels import Label
from tools.oci.cache import seed_downloads
from tools.paths import REPO_ROOT
from tools.supply import keys

HELLO = Label.parse("//tools/oci/tests/testdata/hello:image")
HELLO_CHILD = Label.parse("//tools/oci/tests/testdata/hello:child")
YOLO = Label.parse("//models/yolo:image")
PASSPHRASE = "test passphrase"


def fresh_build_dir(path: Path) -> Path:
    """An empty CF_BUILD_DIR but for the verified .debs (by sha256) and model artifacts (by key)."""
    real = REPO_ROOT / ".build"
    seed_downloads(path, real)
    (real / "artifacts").mkdir(parents=True, exist_ok=True)
    (path / "artifacts").symlink_to(real / "artifacts")
    return path


@pytest.fixture(scope="package")
def build_dir(tmp_path_factory):
    path = fresh_build_dir(tmp_path_factory.mktemp("build"))
    old = os.environ.get("CF_BUILD_DIR")
    os.environ["CF_BUILD_DIR"] = str(path)
    yield path
    if old is None:
        del os.environ["CF_BUILD_DIR"]
    else:
        os.environ["CF_BUILD_DIR"] = old


@pytest.fixture(scope="package")
def hello(build_dir):
    from tools.oci.builder import build_image

    build_in_subprocess(HELLO_CHILD)
    return build_image(HELLO_CHILD)  # every layer cached by now: the same image, as a BuiltImage


def build_in_subprocess(label: Label) -> None:
    """``python -m tools build`` in a fresh process, as users run it: the stdlib .pyc bytes depend
    on the compiling process's state, so builds are compared across processes, never within one."""
    command = [sys.executable, "-m", "tools", "build", str(label)]
    subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True, timeout=900)


@pytest.fixture(scope="package")
def key_pairs(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Two throwaway key pairs, "right" and "wrong"; made here, never committed."""
    tmp = tmp_path_factory.mktemp("keys")
    pairs = {}
    for name in ("right", "wrong"):
        pairs[name] = (tmp / f"{name}.key", tmp / f"{name}.pub")
        keys.generate(*pairs[name], PASSPHRASE)
    return pairs


@pytest.fixture
def policy_file(tmp_path, key_pairs, monkeypatch) -> Path:
    """A supply-chain policy whose staging and prod trust the "right" key, selected through
    CF_SUPPLY_CHAIN_FILE; the private key's path and passphrase are set as the policy says."""
    private, public = key_pairs["right"]
    data = yaml.safe_load((REPO_ROOT / "platform" / "supply-chain.yaml").read_text())
    for env in ("staging", "prod"):
        data["environments"][env]["publicKey"] = str(public)
        signing = data["environments"][env]["signingKey"]
        monkeypatch.setenv(signing["pathEnv"], str(private))
        monkeypatch.setenv(signing["passphraseEnv"], PASSPHRASE)
    # The model signing key: the same throwaway pair (tools/supply/models.py signs with it).
    data["models"]["publicKey"] = str(public)
    monkeypatch.setenv(data["models"]["signingKey"]["pathEnv"], str(private))
    monkeypatch.setenv(data["models"]["signingKey"]["passphraseEnv"], PASSPHRASE)
    path = tmp_path / "supply-chain.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("CF_SUPPLY_CHAIN_FILE", str(path))
    return path
