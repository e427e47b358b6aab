"""tritonserver on free loopback ports: what tests, the benchmark and local runs start."""

from __future__ import annotations

import socket
from contextlib import ExitStack
from pathlib import Path

from runtimes.triton.launcher import LaunchOptions, TritonServer


def free_tcp_ports(count: int) -> list[int]:
    """``count`` distinct ports the kernel says are free on 127.0.0.1 right now."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def local_server(model_repository: Path, *, log_file: Path | None = None, **options) -> TritonServer:
    """A not yet started ``TritonServer`` bound to 127.0.0.1 on three free ports."""
    http_port, grpc_port, metrics_port = free_tcp_ports(3)
    launch = LaunchOptions(
        model_repository=Path(model_repository),
        address="127.0.0.1",
        http_port=http_port,
        grpc_port=grpc_port,
        metrics_port=metrics_port,
        **options,
    )
    return TritonServer(launch, log_file=log_file)
