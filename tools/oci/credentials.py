"""Docker's global ``credsStore``, which skopeo 1.9 (containers/image 5.23) does not read.

skopeo finds credentials in containers' auth.json files, in docker's config.json ``auths`` and in
the per-registry ``credHelpers`` both name. Docker Desktop and ``docker login`` with a store
configured (``pass``, ``secretservice``, ``osxkeychain``, ``desktop``, ``ecr-login``) write only
``"credsStore": "<name>"`` plus an empty ``auths`` entry. For those users we ask the helper
ourselves, exactly as docker does (``docker-credential-<name> get`` with the server on stdin), and
hand skopeo the answer in a private auth file (mode 0600, in the push's scratch dir, deleted with
it). Nothing is looked up when skopeo would find credentials on its own.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

from tools.errors import UserError


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _containers_auth_files() -> list[Path]:
    """Where containers/image looks first (containers-auth.json(5))."""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/containers/{os.getuid()}"
    files = [Path(runtime) / "containers" / "auth.json", Path.home() / ".config" / "containers" / "auth.json"]
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.insert(0, Path(os.environ["REGISTRY_AUTH_FILE"]))
    return files


def _names(config: dict, host: str) -> bool:
    """True when ``config`` has usable credentials or a helper of its own for ``host``."""
    if host in (config.get("credHelpers") or {}):
        return True
    for key, entry in (config.get("auths") or {}).items():
        bare = key.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
        if bare == host and isinstance(entry, dict) and (entry.get("auth") or entry.get("identitytoken")):
            return True
    return False


def docker_config_file() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


def credentials_store_arguments(host: str, scratch_dir: Path) -> list[str]:
    """``["--dest-authfile", FILE]`` with the credentials docker's ``credsStore`` holds for
    ``host``, or ``[]`` when skopeo finds credentials itself or the store has none for it."""
    config_file = docker_config_file()
    config = _read(config_file)
    store = config.get("credsStore")
    if not store or _names(config, host) or any(_names(_read(f), host) for f in _containers_auth_files()):
        return []
    found = _ask_helper(store, host, config_file, "credsStore")
    if found is None:
        return []  # nothing stored for this registry: push anonymously, as docker would
    user, secret = found
    # "<token>" as the user is docker's convention for an identity (OAuth refresh) token.
    entry = (
        {"identitytoken": secret}
        if user == "<token>"
        else {"auth": base64.b64encode(f"{user}:{secret}".encode()).decode()}
    )
    auth_file = scratch_dir / "auth.json"
    descriptor = os.open(auth_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump({"auths": {host: entry}}, out)
    return ["--dest-authfile", str(auth_file)]


def _ask_helper(name: str, host: str, config_file: Path, field: str) -> tuple[str, str] | None:
    """(user, secret) from ``docker-credential-<name> get``, or None when it has none for ``host``."""
    helper = shutil.which(f"docker-credential-{name}")
    if helper is None:
        raise UserError(
            f"names the credential helper docker-credential-{name}, which is not on PATH",
            file=config_file,
            field=field,
        )
    try:
        answer = subprocess.run([helper, "get"], input=host, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise UserError(f"docker-credential-{name} get {host} did not answer within 120 s") from None
    if answer.returncode != 0:
        said = (answer.stdout + answer.stderr).strip()
        if "credentials not found" in said.lower():
            return None
        detail = said.splitlines()[-1] if said else f"exit {answer.returncode}"
        raise UserError(f"docker-credential-{name} get {host} failed: {detail}", file=config_file)
    try:
        found = json.loads(answer.stdout)
        return found["Username"], found["Secret"]
    except (ValueError, KeyError, TypeError):
        raise UserError(
            f"docker-credential-{name} get {host} answered something that is not credentials"
        ) from None


def find_credentials(host: str) -> tuple[str, str] | None:
    """(user, secret) for ``host`` from where skopeo looks (containers-auth.json(5): the auth
    files, then docker's config.json; a file's ``credHelpers`` before its ``auths``), then
    docker's ``credsStore``; None: anonymous. A user of ``<token>`` means an identity token.
    For callers that speak to the registry themselves (tools/supply/referrers.py), so they use
    exactly the credentials the image push used."""
    for path in [*_containers_auth_files(), docker_config_file()]:
        config = _read(path)
        helper = (config.get("credHelpers") or {}).get(host)
        if helper:
            return _ask_helper(helper, host, path, f"credHelpers.{host}")
        for key, entry in (config.get("auths") or {}).items():
            bare = key.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
            if bare != host or not isinstance(entry, dict):
                continue
            if entry.get("identitytoken"):
                return "<token>", entry["identitytoken"]
            if entry.get("auth"):
                try:
                    user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    raise UserError(
                        "is not base64 of user:password", file=path, field=f"auths.{key}.auth"
                    ) from None
                return user, secret
    config_file = docker_config_file()
    store = _read(config_file).get("credsStore")
    return _ask_helper(store, host, config_file, "credsStore") if store else None
