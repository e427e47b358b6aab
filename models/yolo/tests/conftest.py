"""Fixtures for the yolo tests: the real weights (built once, cached) and sample images."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

# The runtime's image fixtures (bus.jpg from ultralytics' assets, odd images, a decompression bomb).
from runtimes.fastapi.tests.conftest import (  # noqa: F401
    bomb_png,
    bus_jpg,
    encode,
    odd_images,
    ultralytics_asset,
)
from tools.artifacts import build_artifacts

WEIGHTS = "//models/yolo:weights"


@pytest.fixture(scope="session")
def weights() -> Path:
    """model.pt, model.onnx and metadata.json, from ``python -m tools artifacts`` (cached)."""
    return build_artifacts(WEIGHTS)


@pytest.fixture(scope="session")
def zidane_jpg() -> bytes:
    return ultralytics_asset("zidane.jpg")


@pytest.fixture(scope="session")
def bus_small_png(request) -> bytes:
    """bus.jpg at a quarter of its area (405x540), lossless: small enough for a V2 JSON tensor."""
    image = (
        Image.open(io.BytesIO(request.getfixturevalue("bus_jpg")))
        .convert("RGB")
        .resize((405, 540), Image.Resampling.BILINEAR)
    )
    return encode(image, "PNG")
