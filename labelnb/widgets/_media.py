"""Turn what a user passes as ``image=`` into a PIL image, and encode its display copy."""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from labelnb import media
from labelnb.errors import ValidationError
from labelnb.media import eight_bit, to_uint8

ImageLike = Any  # str | os.PathLike | PIL.Image.Image | np.ndarray | bytes


def as_pil(image: ImageLike) -> Any:
    """A PIL image (EXIF orientation applied, 8 bits per channel: see
    :func:`to_uint8`) from a path/URI, PIL image, array or bytes."""
    from PIL import Image, ImageOps

    if isinstance(image, str | os.PathLike):
        return eight_bit(media.load_image(os.fspath(image)))
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        return eight_bit(media.decode_image(data, f"image: the {len(data)} bytes given"))
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise ValidationError(
                f"image: an array must be (h, w), (h, w, 3) or (h, w, 4), got {image.shape}"
            )
        arr = to_uint8(image)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        return Image.fromarray(arr)
    if isinstance(image, Image.Image):
        return eight_bit(ImageOps.exif_transpose(image))
    raise ValidationError(
        f"image: give a path, URI, PIL image, numpy array or encoded bytes, "
        f"got {type(image).__name__}"
    )


def encode_display(im: Any, display_width: int, display_height: int) -> tuple[bytes, str]:
    """The downscaled display copy as (bytes, mime): JPEG for opaque images, PNG else."""
    from PIL import Image

    if im.size != (display_width, display_height):
        im = im.resize((display_width, display_height), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if im.mode in ("RGBA", "LA", "P") and ("A" in im.mode or "transparency" in im.info):
        im.convert("RGBA").save(buf, format="PNG")
        return buf.getvalue(), "image/png"
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    im.save(buf, format="JPEG", quality=90)
    return buf.getvalue(), "image/jpeg"
