"""The front proxy of one model on a podman environment: it owns the model's fixed loopback ports
and forwards to the pods on their own loopback ports, weighted (stable vs canary).

``python -m tools.deploy.podman.proxy ROUTES`` runs it (tools/deploy/podman/front.py starts it as
a daemon). ROUTES is a JSON file the podman target rewrites atomically to move traffic; it is
re-read whenever its mtime changes, so a new version takes over the port without the port ever
being closed::

    {"listen": {"http": 18000, "grpc": 18001},          # fixed: what the proxy binds
     "http": ["http"],                                   # port names forwarded per request
     "backends": [{"track": "stable", "weight": 90, "ports": {"http": 41200, "grpc": 41201}},
                  {"track": "canary", "weight": 10, "ports": {"http": 41300, "grpc": 41301}}]}

HTTP ports (REST and the Open Inference Protocol's routes) are proxied per request by an ASGI app
on uvicorn with httpx, so each request is weighted and a backend that refuses the connection (a
pod being removed) is retried on another one; every answer says which track served it in
``x-servectl-track``. Other ports (gRPC: HTTP/2 with trailers, which neither uvicorn nor httpx
proxy) are forwarded per connection at TCP level, weighted when the connection opens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
from pathlib import Path

import httpx
import uvicorn

TRACK_HEADER = "x-servectl-track"
# Hop-by-hop headers (RFC 9110 7.6.1) and the ones httpx sets itself from the buffered body.
_REQUEST_DROPPED = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "host"}
_REQUEST_DROPPED |= {"transfer-encoding", "content-length"}
_RESPONSE_DROPPED = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "trailer"}


class Routes:
    """The routes file, re-read when it changes."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp: int | None = None
        self.data: dict = {}
        self.refresh()

    def refresh(self) -> None:
        stamp = self.path.stat().st_mtime_ns
        if stamp != self._stamp:
            self.data = json.loads(self.path.read_text())
            self._stamp = stamp

    def order(self, port_name: str) -> list[tuple[str, int]]:
        """(track, port) of every backend for ``port_name``: one picked by weight first, the
        others after it (tried when the first refuses the connection)."""
        with contextlib.suppress(OSError, ValueError):
            self.refresh()  # never half-written (atomic replace); if unreadable, the last one holds
        backends = [b for b in self.data["backends"] if port_name in b["ports"]]
        weighted = [b for b in backends if b["weight"] > 0]
        if not weighted:
            return []
        first = random.choices(weighted, weights=[b["weight"] for b in weighted])[0]
        rest = [b for b in weighted if b is not first]
        return [(b["track"], b["ports"][port_name]) for b in [first, *rest]]


def http_app(routes: Routes, port_name: str, client: httpx.AsyncClient):
    """An ASGI app forwarding every request to a backend's ``port_name`` port."""

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:  # buffered (uploads are bounded by the server), so a refused connection can be retried
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k.decode().lower() not in _REQUEST_DROPPED]
        query = scope.get("query_string", b"").decode()
        path = scope.get("raw_path", scope["path"].encode()).decode() + (f"?{query}" if query else "")
        for track, port in routes.order(port_name):
            request = client.build_request(
                scope["method"], f"http://127.0.0.1:{port}{path}", headers=headers, content=bytes(body)
            )
            try:
                response = await client.send(request, stream=True)
            except (httpx.ConnectError, httpx.RemoteProtocolError):
                continue  # that pod is going away: the next backend answers instead
            try:
                raw = response.headers.raw
                kept = [(k, v) for k, v in raw if k.decode().lower() not in _RESPONSE_DROPPED]
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status_code,
                        "headers": [*kept, (TRACK_HEADER.encode(), track.encode())],
                    }
                )
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            finally:
                await response.aclose()
            return
        message = f"no backend of this model answers on {port_name}\n".encode()
        plain = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 502, "headers": plain})
        await send({"type": "http.response.body", "body": message})

    return app


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


def tcp_handler(routes: Routes, port_name: str):
    """Forwards each connection to one backend's ``port_name`` port, weighted when it opens."""

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        for _track, port in routes.order(port_name):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            await asyncio.gather(_pipe(client_reader, writer), _pipe(reader, client_writer))
            return
        client_writer.close()

    return handle


async def serve(routes_path: Path) -> None:
    routes = Routes(routes_path)
    listen: dict[str, int] = routes.data["listen"]
    http_names = set(routes.data.get("http", []))
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    tcp = [
        await asyncio.start_server(tcp_handler(routes, name), "127.0.0.1", port)
        for name, port in listen.items()
        if name not in http_names
    ]
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=httpx.Timeout(300, connect=5), limits=limits) as client:
        servers = [
            uvicorn.Server(
                uvicorn.Config(
                    http_app(routes, name, client),
                    host="127.0.0.1",
                    port=port,
                    lifespan="off",
                    log_level="warning",
                    access_log=False,
                    server_header=False,  # the backend's own Server and Date headers pass through
                    date_header=False,
                )
            )
            for name, port in listen.items()
            if name in http_names
        ]
        for server in servers:
            # What uvicorn's Server.serve does, minus its signal handling: one handler stops all.
            server.config.load()
            server.lifespan = server.config.lifespan_class(server.config)
            await server.startup()
            if not server.started:
                raise SystemExit(f"cannot listen on 127.0.0.1:{server.config.port}")
        print(f"proxy {os.getpid()} listening on {listen}", flush=True)
        await stopped.wait()
        for server in servers:
            await server.shutdown()
    for server in tcp:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("routes", type=Path, help="the routes file (JSON) the podman target writes")
    asyncio.run(serve(parser.parse_args().routes))


if __name__ == "__main__":
    main()
