"""Thumbnails of attached images, made on the server with Pillow, always as PNG
(THUMBNAIL_CONTENT_TYPE): screenshots, the usual attachment, stay sharp, and transparency stays.

An image is measured before it is decoded: `Image.open` reads only the header, so the pixel count
is checked against PIXELS_MAX first, and Pillow's own decompression-bomb guard
(`DecompressionBombWarning` above `Image.MAX_IMAGE_PIXELS`, `DecompressionBombError` above twice
that: https://pillow.readthedocs.io/en/stable/reference/Image.html#PIL.Image.open) refuses too.
Only the formats the allow-list takes are opened, so no other Pillow decoder ever sees a file.
JPEGs are decoded already reduced (`Image.thumbnail` sets `Image.draft`: DCT scaling), the first
frame of an animation is used, and the EXIF orientation is applied (`ImageOps.exif_transpose`).
"""

from __future__ import annotations

import io
import logging
import warnings

from PIL import Image, ImageOps

THUMBNAIL_BOX = (320, 320)
THUMBNAIL_CONTENT_TYPE = "image/png"
# Below Pillow's warning threshold (about 89 million): a 4K screenshot has 8 million pixels, a
# 48-megapixel photo fits; decoding the largest allowed PNG takes at most 200 MB (4 bytes a pixel).
PIXELS_MAX = 50_000_000
# Pillow's names of the image formats the allow-list accepts (portal.files.checks.IMAGE_TYPES).
DECODED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")

logger = logging.getLogger(__name__)


def thumbnail(data: bytes) -> bytes | None:
    """A PNG of the image in `data` within THUMBNAIL_BOX (never enlarged), or None when `data` is
    not an image Pillow decodes safely: an unknown or broken file, or more than PIXELS_MAX pixels."""
    try:
        # The filter holds for this call only; calls overlapping in threads may leave it in place,
        # which is harmless: no other code opens images.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _thumbnail(data)
    # Broken files raise whatever their decoder meets (OSError, SyntaxError, struct.error,
    # ValueError…): each is only "no thumbnail".
    except Exception as error:
        logger.info("no thumbnail: %s: %s", type(error).__name__, error)
        return None


def _thumbnail(data: bytes) -> bytes | None:
    with Image.open(io.BytesIO(data), formats=DECODED_FORMATS) as image:
        width, height = image.size
        if width * height > PIXELS_MAX:
            logger.info("no thumbnail: %d×%d pixels is over %d", width, height, PIXELS_MAX)
            return None
        # Reduced before turned upright, so no full-size copy is made; a JPEG is even decoded
        # reduced (thumbnail() sets its draft mode).
        image.thumbnail(THUMBNAIL_BOX)
        upright = ImageOps.exif_transpose(image)
        upright.thumbnail(THUMBNAIL_BOX)  # a quarter turn swaps the sides of a box that is not square
        has_alpha = "A" in upright.getbands() or "transparency" in upright.info
        small = upright.convert("RGBA" if has_alpha else "RGB")
    output = io.BytesIO()
    small.save(output, format="PNG", optimize=True)
    return output.getvalue()
