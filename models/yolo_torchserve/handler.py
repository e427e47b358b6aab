"""TorchServe handler for the yolo model: the same ``YOLOModelHandler`` the fastapi runtime serves.

torch-model-archiver packs this file into ``yolo.mar`` with the ONNX export beside it
(``archive.py``); TorchServe's Python worker imports it from the unpacked archive and calls
``initialize(context)`` once and ``handle(batch, context)`` per batch. Decoding, letterboxing,
onnxruntime, NMS and the JSON answer are models/yolo's own code (``models.yolo.handler``), imported
from the image's /app, so both runtimes find the same boxes by construction; the tests check it on
bus.jpg through both real servers.

A request's image is its body (``curl --data-binary @bus.jpg -H 'Content-Type: image/jpeg'``) or a
multipart file field named ``data`` (TorchServe's convention). A bad image gets the same 4xx and
``{"error": ...}`` as on the fastapi runtime (runtimes/fastapi/errors.py's table); the worker and
the other requests of the batch carry on.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from models.yolo.handler import YOLOModelHandler
from runtimes.fastapi.errors import HTTP_STATUS, InvalidInput, ServerError
from runtimes.fastapi.model import DEFAULT_MAX_IMAGE_PIXELS

log = logging.getLogger(__name__)

WEIGHTS = "model.onnx"  # the archive's --serialized-file
# Same setting, same default as the fastapi runtime (runtimes/fastapi/settings.py).
MAX_PIXELS_ENV = "SERVER_MAX_IMAGE_PIXELS"


def request_image(row: dict) -> bytes:
    """The image bytes of one request: the multipart field ``data``, else the raw body."""
    for key in ("data", "body"):
        value = row.get(key)
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
    # A form post (curl -d) arrives as parsed text fields: no image in it.
    raise InvalidInput(
        "send the image as the request body (Content-Type: image/jpeg or application/octet-stream) "
        "or as a multipart file field named 'data'"
    )


class YoloHandler:
    """TorchServe's handler contract (``initialize``/``handle``) over ``YOLOModelHandler``."""

    def __init__(self):
        self.model: YOLOModelHandler | None = None
        self.initialized = False

    def initialize(self, context) -> None:
        model_dir = Path(context.system_properties["model_dir"])
        manifest = context.manifest or {}
        self.model = YOLOModelHandler(
            model_dir / WEIGHTS,
            name=context.model_name,
            version=str(manifest.get("model", {}).get("modelVersion", "1")),
            max_image_pixels=int(os.environ.get(MAX_PIXELS_ENV, DEFAULT_MAX_IMAGE_PIXELS)),
        )
        self.model.load()  # includes one warm-up pass
        self.initialized = True
        log.info("yolo loaded from %s on %s", model_dir / WEIGHTS, self.model.backend.description)

    def handle(self, batch: list[dict], context) -> list[bytes]:
        answers = []
        for index, row in enumerate(batch):
            context.set_response_content_type(index, "application/json")
            try:
                response, _timings = self.model(request_image(row))
                answers.append(response.model_dump_json().encode())
            except ServerError as error:
                status = HTTP_STATUS.get(type(error), 400)
                context.set_response_status(status, type(error).__name__, index)
                answers.append(json.dumps({"error": error.message}).encode())
        return answers
