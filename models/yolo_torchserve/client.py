"""A client for yolo on TorchServe: the yolo client on TorchServe's inference route.

The handler is models/yolo's own code, so the answer's JSON is the same; only the route
(``POST /predictions/yolo``) and the upload (the raw image bytes) differ. ``predict_once`` is the
contract ``servectl predict`` calls (model.yaml's ``client``).
"""

from __future__ import annotations

from models.yolo import client as yolo_client

ROUTE = "/predictions/yolo"  # the model name inside the .mar (models/yolo_torchserve/archive.py)


def predict_once(url: str, input: str | None, *, raw: bool = False) -> str:
    """``input`` is an image path (None: bus.jpg from ultralytics' assets)."""
    return yolo_client.predict_once(url, input, raw=raw, route=ROUTE, multipart=False)
