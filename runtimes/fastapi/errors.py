"""The server's exceptions and the one table mapping them to HTTP status codes.

No web imports here, so the data plane and model handlers can raise these without FastAPI;
``app.py`` installs one handler per entry that answers ``{"error": message}``.
"""

from __future__ import annotations


class ServerError(Exception):
    """Base class: ``message`` is sent to the client as is, so it must say what was wrong."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(ServerError):
    """The request is well-formed but its content is unusable (not an image, bad tensor shape)."""


class MalformedRequest(ServerError):
    """The request lacks a required part (e.g. the upload field), like FastAPI's own 422s."""


class PayloadTooLarge(ServerError):
    """The body, or the image it decodes to, is over a configured limit."""


class UnsupportedMediaType(ServerError):
    """The request or upload has a content type this route does not take."""


class ModelNotFound(ServerError):
    def __init__(self, name: str, detail: str = "is not served here"):
        super().__init__(f"model {name!r} {detail}")


class ModelNotReady(ServerError):
    def __init__(self, name: str, reason: str = "still loading"):
        super().__init__(f"model {name!r} is not ready: {reason}")


class ServerUnhealthy(ServerError):
    """The process runs but can never serve (the model failed to load): the kubelet should restart it."""


class Overloaded(ServerError):
    """More inference requests than the server admits (runtimes/fastapi/admission.py): shed."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after  # seconds, sent as the Retry-After header


class NotImplementedByModel(ServerError):
    """The model's handler does not implement this protocol (e.g. no V2 tensor inference)."""


HTTP_STATUS: dict[type[ServerError], int] = {
    InvalidInput: 400,
    ModelNotFound: 404,
    MalformedRequest: 422,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    NotImplementedByModel: 501,
    ModelNotReady: 503,
    ServerUnhealthy: 503,
    Overloaded: 503,
}
