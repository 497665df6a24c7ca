"""Turn what a user passes as ``image=`` into a PIL image, and encode its display copy."""

from __future__ import annotations

import io
from typing import Any

from labelnb.media import ImageLike, as_pil

__all__ = ["ImageLike", "as_pil", "encode_display"]


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
