"""``python3 -m runtimes.fastapi``: serve the model named by the environment with uvicorn.

Runs as PID 1 in the container (no init): uvicorn handles SIGTERM itself, stops accepting
connections, lets in-flight requests finish (up to SERVER_GRACEFUL_SHUTDOWN_SECONDS) and exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

import uvicorn

from runtimes.fastapi.app import create_app
from runtimes.fastapi.loader import HandlerError
from runtimes.fastapi.settings import SettingsError, load_settings


def seconds_since_process_start() -> float | None:
    """From the kernel's record of this process's start (so it counts the interpreter's own start)."""
    try:
        stat, uptime = Path("/proc/self/stat").read_text(), Path("/proc/uptime").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, counted after the comm field
        uptime = float(uptime.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def main() -> int:
    imported = seconds_since_process_start()
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.server_log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if imported is not None:
        # Where start-up time goes (bench/bench_yolo_start.py reads these lines from the pod's log).
        logging.getLogger("runtimes.fastapi.startup").info(
            "startup: process started %.3f s ago (epoch %.3f); interpreter and imports took %.3f s",
            imported,
            time.time() - imported,
            imported,
        )
    common = {
        "host": settings.server_host,
        "port": settings.server_port,
        "log_level": settings.server_log_level,
        "timeout_graceful_shutdown": settings.server_graceful_shutdown_seconds,
        "server_header": False,
    }
    # uvicorn re-raises the SIGTERM it handled once shutdown is done, with the handler it found
    # installed; this no-op makes that a clean exit 0 instead of death by signal (status 143).
    signal.signal(signal.SIGTERM, lambda *_: None)
    if settings.server_workers > 1:
        # Separate processes, each loading its own model copy; each answers /metrics for itself.
        uvicorn.run(
            "runtimes.fastapi.app:create_app", factory=True, workers=settings.server_workers, **common
        )
        return 0
    try:
        app = create_app(settings)
    except HandlerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    uvicorn.Server(uvicorn.Config(app, **common)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
