"""Image decoding: odd but valid images come out upright 8-bit RGB; bad ones raise clear errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from runtimes.fastapi.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from runtimes.fastapi.images import BACKGROUND, decode_rgb
from runtimes.fastapi.tests.conftest import encode

LIMIT = 5_000_000


@pytest.mark.parametrize(
    "name",
    [
        "png_with_alpha",
        "grayscale_jpeg",
        "one_pixel_png",
        "exif_rotated_jpeg",
        "palette_gif",
        "sixteen_bit_png",
    ],
)
def test_odd_images_decode_to_upright_rgb(odd_images, name):
    data, (width, height) = odd_images[name]
    rgb = decode_rgb(data, LIMIT)
    assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8


def test_transparent_pixels_become_background(odd_images):
    rgb = decode_rgb(odd_images["png_with_alpha"][0], LIMIT)
    assert tuple(rgb[0, 0]) == BACKGROUND
    assert tuple(rgb[24, 32]) == (0, 255, 0)


def test_exif_rotation_is_applied():
    # A left half red, right half blue landscape, stored with orientation 6 (display rotated 90 cw):
    # upright it is portrait, red on top.
    image = Image.new("RGB", (60, 30), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    rgb = decode_rgb(encode(image, "PNG", exif=exif), LIMIT)
    assert rgb.shape == (60, 30, 3)
    assert tuple(rgb[5, 15]) == (255, 0, 0) and tuple(rgb[55, 15]) == (0, 0, 255)


def test_sixteen_bit_range_is_scaled_not_clipped():
    ramp = Image.fromarray(np.linspace(0, 4000, 16 * 8, dtype=np.uint16).reshape(8, 16))
    rgb = decode_rgb(encode(ramp, "PNG"), LIMIT)
    assert rgb.min() == 0 and rgb.max() == 255


@pytest.mark.parametrize(
    ("data", "error", "fragment"),
    [
        (b"", InvalidInput, "empty"),
        (b"hello, not an image", UnsupportedMediaType, "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, UnsupportedMediaType, "not an image"),  # bad header
    ],
)
def test_bad_bytes(data, error, fragment):
    with pytest.raises(error, match=fragment):
        decode_rgb(data, LIMIT)


def test_truncated_jpeg(bus_jpg):
    with pytest.raises(InvalidInput, match="truncated"):
        decode_rgb(bus_jpg[:5000], LIMIT)


def test_pixel_limit_is_checked_before_decoding(bomb_png):
    with pytest.raises(PayloadTooLarge, match="12000x12000 = 144000000 pixels"):
        decode_rgb(bomb_png, LIMIT)


def test_pillows_own_bomb_limit_is_a_413_too():
    # 20000 x 10000 = 200 MP is over 2 x Pillow's MAX_IMAGE_PIXELS: Pillow refuses it in open().
    huge = encode(Image.new("1", (20_000, 10_000)), "PNG")
    with pytest.raises(PayloadTooLarge, match="too large"):
        decode_rgb(huge, 10**12)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, *sys.argv[1:]]))
