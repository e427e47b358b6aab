"""Pure ASGI middleware (no body buffering): request metrics and the request body size limit.

Routes are labelled by their template (``/v2/models/{name}/infer``), read from the route FastAPI
matched, never the raw path, so a client cannot blow up the number of series.
"""

from __future__ import annotations

import time

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtimes.fastapi import metrics

UNMATCHED_ROUTE = "unmatched"


class RequestMetrics:
    """Counts requests and their latency by route template, method and status; tracks in-flight."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before starting a response
        start = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, recording_send)
        finally:
            metrics.IN_FLIGHT.dec()
            # FastAPI's router leaves the matched route in the scope it shares with us.
            route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
            labels = (route, scope["method"], str(status))
            metrics.REQUESTS.labels(*labels).inc()
            metrics.REQUEST_SECONDS.labels(*labels).observe(time.perf_counter() - start)


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing passes it on to the app's 413 handler."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body is over the {limit}-byte limit (SERVER_MAX_UPLOAD_BYTES)")


class BodySizeLimit:
    """Refuses a body over ``max_bytes``: at once from Content-Length, else as the bytes arrive.

    Not FastAPI's own ``max_body_size``: for an over-size Content-Length that one replaces the
    app's answer with a plain-text "Content Too Large", which breaks the ``{"error": ...}`` contract.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            # Answered without reading the body; the connection closes so its rest is never parsed.
            error = BodyTooLarge(self.max_bytes)
            response = JSONResponse({"error": error.detail}, 413, headers={"connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)
