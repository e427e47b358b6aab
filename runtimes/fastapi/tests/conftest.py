"""Fixtures for the runtime's tests: real images made with Pillow, and the served toy model."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pytest
from PIL import Image

TOY_HANDLER = "runtimes.fastapi.tests.toy_models:GatedSum"


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def ultralytics_asset(name: str) -> bytes:
    """A sample image shipped in ultralytics' package, found without importing it (and torch)."""
    spec = importlib.util.find_spec("ultralytics")
    return (Path(spec.submodule_search_locations[0]) / "assets" / name).read_bytes()


@pytest.fixture(scope="session")
def bus_jpg() -> bytes:
    """ultralytics' sample photo (810x1080): four people and a bus."""
    return ultralytics_asset("bus.jpg")


@pytest.fixture(scope="session")
def odd_images() -> dict[str, tuple[bytes, tuple[int, int]]]:
    """Valid images in awkward forms, each with the upright (width, height) it must decode to."""
    rgba = Image.new("RGBA", (64, 48), (255, 0, 0, 0))
    rgba.paste((0, 255, 0, 255), (16, 12, 48, 36))
    # EXIF orientation 6: stored 60 wide and 30 high, displayed rotated 90 degrees, 30 x 60.
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "png_with_alpha": (encode(rgba, "PNG"), (64, 48)),
        "grayscale_jpeg": (encode(Image.new("L", (40, 30), 128), "JPEG"), (40, 30)),
        "one_pixel_png": (encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"), (1, 1)),
        "exif_rotated_jpeg": (
            encode(Image.new("RGB", (60, 30), (200, 100, 50)), "JPEG", exif=exif),
            (30, 60),
        ),
        "palette_gif": (encode(Image.new("P", (20, 10), 3), "GIF"), (20, 10)),
        "sixteen_bit_png": (encode(Image.new("I;16", (16, 8), 4000), "PNG"), (16, 8)),
    }


@pytest.fixture(scope="session")
def bomb_png() -> bytes:
    """A decompression bomb: 12000 x 12000 pixels (144 MP, 432 MB as RGB) in 18 KB.

    Under Pillow's own bomb limit (2 x 89 MP), so the server's SERVER_MAX_IMAGE_PIXELS is what
    must stop it.
    """
    return encode(Image.new("1", (12_000, 12_000), 0), "PNG")


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path
