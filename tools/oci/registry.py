"""The local OCI registry: Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1.

Not Debian's own service (its config wants auth and listens on every interface, and there is no
systemd here): we write a config with storage under ``.build/registry``, deletes enabled and the
listener on loopback only, start the process ourselves and keep its pid and port in a state file.
``start`` is idempotent; a port held by anything else is a clear error, never a second registry.
``stop`` only signals a pid whose command line is the registry this state dir started: a stale
pid file whose pid now belongs to another process is refused, never killed.

The tests start registries shaped like the ones teams run (TLS, htpasswd or token auth) with the
same runner: ``tls`` and ``auth`` are distribution's own config sections.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import yaml

from tools import daemons
from tools.errors import UserError
from tools.paths import build_dir

DEFAULT_PORT = 5000
_CONFIG_HEADER = "# Written by python -m tools registry start: a throwaway local registry, loopback only.\n"


@dataclass
class RegistryState:
    pid: int
    port: int
    tls: bool = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def _config(storage: Path, port: int, tls: tuple[Path, Path] | None, auth: dict | None) -> str:
    http: dict = {"addr": f"127.0.0.1:{port}"}
    if tls is not None:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": http,
    }
    if auth is not None:
        config["auth"] = auth
    return _CONFIG_HEADER + yaml.safe_dump(config, sort_keys=False)


def default_state_dir() -> Path:
    return build_dir() / "registry"


def _state_file(state_dir: Path) -> Path:
    return state_dir / "registry.json"


def _is_our_registry(pid: int, state_dir: Path) -> bool:
    """True when ``pid`` runs ``docker-registry serve <state_dir>/config.yml``: a pid file outlives
    its process, and the kernel hands the number to whatever starts next."""
    command = daemons.argv(pid)
    config = str((state_dir / "config.yml").resolve())
    return (
        len(command) >= 3 and Path(command[0]).name == "docker-registry" and command[1:3] == ["serve", config]
    )


def _answers_v2(port: int, tls: bool = False) -> bool:
    scheme = "https" if tls else "http"
    try:
        # Only asks whether our own child on loopback is up (no credentials are sent): the
        # certificate is the test CA's, which this probe has no reason to know.
        response = httpx.get(f"{scheme}://127.0.0.1:{port}/v2/", timeout=1.0, verify=False)
    except httpx.HTTPError:
        return False
    return response.status_code in (200, 401) and "registry/2.0" in response.headers.get(
        "docker-distribution-api-version", ""
    )


def status(state_dir: Path | None = None) -> RegistryState | None:
    """The running registry this repo started, or None."""
    state_file = _state_file(state_dir or default_state_dir())
    try:
        data = json.loads(state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    state = RegistryState(pid=int(data["pid"]), port=int(data["port"]), tls=bool(data.get("tls")))
    state_dir = state_file.parent
    if (
        daemons.alive(state.pid)
        and _is_our_registry(state.pid, state_dir)
        and _answers_v2(state.port, state.tls)
    ):
        return state
    return None


def start(
    port: int = DEFAULT_PORT,
    state_dir: Path | None = None,
    timeout: float = 15.0,
    *,
    tls: tuple[Path, Path] | None = None,
    auth: dict | None = None,
) -> RegistryState:
    """Starts (or finds) the registry of ``state_dir``. ``tls``: (certificate, key) PEM files;
    ``auth``: distribution's ``auth`` config section (htpasswd, token)."""
    state_dir = (state_dir or default_state_dir()).resolve()  # its command line names it absolutely
    running = status(state_dir)
    if running is not None:
        if running.port != port:
            raise UserError(f"the local registry already runs on port {running.port}; stop it first")
        return running
    if not 0 < port < 65536:
        raise UserError(f"port {port} is not a TCP port")
    if daemons.port_in_use(port):
        raise UserError(f"port {port} on 127.0.0.1 is taken by another process; pick one with --port")
    binary = shutil.which("docker-registry")
    if binary is None:
        raise UserError("docker-registry is not installed (apt-get install docker-registry)")
    storage = state_dir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = state_dir / "config.yml"
    config.write_text(_config(storage, port, tls, auth))
    log_path = state_dir / "registry.log"
    pid = daemons.start(
        [binary, "serve", str(config)],
        log_path,
        lambda: _answers_v2(port, tls is not None),
        name=f"docker-registry on 127.0.0.1:{port}",
        timeout=timeout,
    )
    state = RegistryState(pid=pid, port=port, tls=tls is not None)
    _state_file(state_dir).write_text(json.dumps(asdict(state)) + "\n")
    return state


def stop(state_dir: Path | None = None, timeout: float = 10.0) -> bool:
    """Stops the registry this repo started; False when none was running. Refuses (UserError) when
    the pid file names a live process that is not that registry."""
    state_dir = (state_dir or default_state_dir()).resolve()
    state_file = _state_file(state_dir)
    try:
        pid = int(json.loads(state_file.read_text())["pid"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return False
    if daemons.alive(pid) and not _is_our_registry(pid, state_dir):
        raise UserError(
            f"pid {pid} is not the registry started here (it runs: {daemons.command_line(pid)[:120]}); "
            "not stopping it (the registry recorded here is gone; delete this file)",
            file=state_file,
        )
    stopped = daemons.stop(pid, timeout)
    state_file.unlink(missing_ok=True)
    return stopped
