"""Turn what a user passes as ``image=`` into a PIL image, and encode its display copy."""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from labelnb.errors import ValidationError

ImageLike = Any  # str | os.PathLike | PIL.Image.Image | np.ndarray | bytes


def as_pil(image: ImageLike) -> Any:
    """A PIL image (EXIF orientation applied) from a path/URI, PIL image, array or bytes."""
    from PIL import Image, ImageOps

    if isinstance(image, str | os.PathLike):
        from labelnb import media

        return media.load_image(os.fspath(image))
    if isinstance(image, bytes | bytearray | memoryview):
        with Image.open(io.BytesIO(bytes(image))) as im:
            out = ImageOps.exif_transpose(im)
            out.load()
            return out
    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            if np.issubdtype(arr.dtype, np.floating) and arr.size and float(arr.max()) <= 1.0:
                arr = arr * 255.0
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
            raise ValidationError(
                f"image: an array must be (h, w), (h, w, 3) or (h, w, 4), got {image.shape}"
            )
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        return Image.fromarray(arr)
    if isinstance(image, Image.Image):
        return ImageOps.exif_transpose(image)
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
