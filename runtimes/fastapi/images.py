"""Image decoding for image models: every way an upload can be a bad image becomes a clear error.

The pixel count is checked from the header, before a single pixel is decoded, so a decompression
bomb (a few KB that inflate to gigabytes) costs nothing. EXIF orientation is applied, and any mode
(palette, alpha, grayscale, 16-bit, CMYK) comes out as 8-bit RGB.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from runtimes.fastapi.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

# Transparent pixels become this gray: the colour YOLO-style letterboxing pads with, so they read
# as background rather than as whatever colour the encoder left under the alpha.
BACKGROUND = (114, 114, 114)


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Opens (header only) and checks size; raises InvalidInput / UnsupportedMediaType / PayloadTooLarge."""
    if not data:
        raise InvalidInput("the uploaded file is empty")
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit; ours (below) is the one that decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise PayloadTooLarge(f"image is too large to decode: {error}") from None
    except UnidentifiedImageError:
        raise UnsupportedMediaType(
            "the uploaded file is not an image in a format this server reads"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise InvalidInput(f"the image header is corrupt: {error}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"image is {width}x{height} = {width * height} pixels, over the {max_pixels}-pixel limit "
            "(SERVER_MAX_IMAGE_PIXELS)"
        )
    if width == 0 or height == 0:
        raise InvalidInput(f"image has no pixels ({width}x{height})")
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # High bit-depth grayscale: scale the actual range to 0-255 (convert("L") would clip it).
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
        image = Image.fromarray(scaled.astype(np.uint8))  # 2-D uint8: mode L
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        background = Image.new("RGB", image.size, BACKGROUND)
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")


def decode_rgb(data: bytes, max_pixels: int) -> np.ndarray:
    """Encoded image bytes to an HxWx3 uint8 RGB array, upright per its EXIF orientation."""
    image = open_image(data, max_pixels)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return np.asarray(_to_rgb(image), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as error:
        # Pillow reports truncated or corrupt data as OSError ("image file is truncated"), some
        # plugins as SyntaxError or ValueError.
        raise InvalidInput(f"the image data is corrupt or truncated: {error}") from None
