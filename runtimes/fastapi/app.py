"""Builds the FastAPI app: routes, middleware, error handlers and the model's load at startup."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from runtimes.fastapi.errors import HTTP_STATUS, ServerError
from runtimes.fastapi.loader import ModelLoader
from runtimes.fastapi.middleware import BodySizeLimit, RequestMetrics
from runtimes.fastapi.routers import router, v2
from runtimes.fastapi.settings import Settings, load_settings

log = logging.getLogger(__name__)


def _status_of(error: ServerError) -> int:
    # Walk the class hierarchy so a handler's own subclass of InvalidInput is still a 400.
    return next(HTTP_STATUS[cls] for cls in type(error).__mro__ if cls in HTTP_STATUS)


async def _server_error(_: Request, error: ServerError) -> JSONResponse:
    retry_after = getattr(error, "retry_after", None)  # Overloaded: when a retry may be admitted
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": error.message}, status_code=_status_of(error), headers=headers)


async def _http_error(_: Request, error: HTTPException) -> JSONResponse:
    return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)


def _describe(validation_error: dict) -> str:
    where = ".".join(str(part) for part in validation_error["loc"])
    return f"{where}: {validation_error['msg']}"


async def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
    problems = "; ".join(_describe(e) for e in error.errors()[:10])
    return JSONResponse({"error": f"invalid request: {problems}"}, status_code=422)


async def _unexpected_error(_: Request, error: Exception) -> JSONResponse:
    # A bug: logged with its traceback here, never sent to the client.
    log.error("unhandled error", exc_info=error)
    return JSONResponse({"error": "internal server error"}, status_code=500)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for ``settings`` (default: from the environment); uvicorn's factory entry point."""
    settings = settings or load_settings()
    loader = ModelLoader(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loader.start()
        grpc_server = None
        if settings.server_grpc_port:
            from runtimes.fastapi.grpc_v2 import start_server  # grpcio only when gRPC is on

            grpc_server = start_server(
                loader, settings.server_host, settings.server_grpc_port, settings.server_max_upload_bytes
            )
        yield
        if grpc_server is not None:
            # Like uvicorn for HTTP: refuse new RPCs, let in-flight ones finish within the grace.
            grpc_server.stop(settings.server_graceful_shutdown_seconds).wait()
        loader.close()

    app = FastAPI(
        title=f"{settings.model_name} model server",
        version=settings.model_version,
        lifespan=lifespan,
    )
    app.state.model_loader = loader
    app.state.settings = settings
    app.include_router(router)
    app.include_router(v2)
    for error_class in HTTP_STATUS:
        app.add_exception_handler(error_class, _server_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(BodySizeLimit, max_bytes=settings.server_max_upload_bytes)
    if settings.server_request_metrics:
        # Added last = outermost: the metrics see every answer, the early 413s included.
        app.add_middleware(RequestMetrics)
    return app
