"""``servectl registry start|stop|status``: the local OCI registry (Debian docker-registry)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--port", type=int, default=5000, help="loopback port for start (default 5000)")


def run(args: argparse.Namespace) -> int:
    from tools.oci import registry

    if args.action == "start":
        state = registry.start(args.port)
        print(f"registry running at {state.address} (pid {state.pid})")
        return 0
    if args.action == "stop":
        print("registry stopped" if registry.stop() else "registry was not running")
        return 0
    state = registry.status()
    print(f"registry running at {state.address} (pid {state.pid})" if state else "registry not running")
    return 0 if state else 3
