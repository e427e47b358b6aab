"""``servectl prometheus start|stop|status``: the local Prometheus (Debian prometheus) for `local`."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--env", default="local", help="a podman environment (default: local)")
    parser.add_argument("--port", type=int, default=9090, help="loopback port for start (default 9090)")


def run(args: argparse.Namespace) -> int:
    from tools.observability import local_prometheus

    if args.action == "start":
        state = local_prometheus.start(args.env, args.port)
        print(f"prometheus running at {state.url} (pid {state.pid})")
        return 0
    if args.action == "stop":
        print("prometheus stopped" if local_prometheus.stop(args.env) else "prometheus was not running")
        return 0
    state = local_prometheus.status(args.env)
    print(f"prometheus running at {state.url} (pid {state.pid})" if state else "prometheus not running")
    return 0 if state else 3
