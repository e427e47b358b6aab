"""Reads the image a client uploads to ``/predict``: a multipart field, or the raw body.

Parsed here rather than by a FastAPI ``UploadFile`` parameter so a wrong content type is a 415
and a missing field a clear 422, instead of FastAPI's generic validation list.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request

from runtimes.fastapi.errors import MalformedRequest, UnsupportedMediaType

UPLOAD_FIELD = "file"


def _acceptable_part_type(content_type: str | None) -> bool:
    # Clients label uploads by file extension; unknown extensions become application/octet-stream.
    media = (content_type or "").split(";")[0].strip().lower()
    return media in ("", "application/octet-stream") or media.startswith("image/")


async def read_upload(request: Request) -> bytes:
    """The uploaded file's bytes; the body size limit is enforced by ``BodySizeLimit`` as they arrive."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media.startswith("image/") or media == "application/octet-stream":
        return await request.body()
    if media != "multipart/form-data":
        raise UnsupportedMediaType(
            f"Content-Type {media or '(none)'!r} is not accepted: send multipart/form-data with the image "
            f"in field {UPLOAD_FIELD!r}, or the image itself as the body with an image/* Content-Type"
        )
    # One file, a few fields: a form with thousands of parts is an attack, not an upload.
    async with request.form(max_files=1, max_fields=8) as form:
        upload = form.get(UPLOAD_FIELD)
        if not isinstance(upload, UploadFile):
            raise MalformedRequest(f"multipart field {UPLOAD_FIELD!r} with the image file is missing")
        if not _acceptable_part_type(upload.content_type):
            raise UnsupportedMediaType(f"the uploaded file is {upload.content_type!r}, not an image")
        return await upload.read()
