"""Loopback ports for the real servers tests start."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A 127.0.0.1 port nobody listens on right now (the OS picks it; closed again at return)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
