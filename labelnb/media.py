"""Media by URI through fsspec: local paths, http(s), s3://, gs://.

Items reference media; bytes never go into the database. On import we read each
file once to hash its content (for deduplication) and to read the image size from
its header (EXIF orientation applied, no full decode).
"""

from __future__ import annotations

import glob
import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelnb.errors import ItemNotFound, MissingExtra, ValidationError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}
TEXT_EXTS = {".txt", ".md"}
_REMOTE = ("http://", "https://", "s3://", "gs://", "gcs://", "memory://", "file://")
_EXTRAS = {"s3": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"),
           "http": ("aiohttp", "http"), "https": ("aiohttp", "http")}


def is_uri(s: str) -> bool:
    return s.startswith(_REMOTE)


def has_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def expand(spec: str) -> list[str]:
    """A path, glob or URI → a list of absolute paths / URIs. Raises if nothing exists."""
    if is_uri(spec):
        if has_glob(spec):
            fs, _, paths = _fs_paths(spec)
            found = [fs.unstrip_protocol(p) for p in sorted(paths)]
            if not found:
                raise ItemNotFound(f"item {spec!r}: the pattern matches no file; check it")
            return found
        return [spec]
    p = os.path.expanduser(spec)
    if has_glob(p):
        found = sorted(x for x in glob.glob(p, recursive=True) if os.path.isfile(x))
        if not found:
            raise ItemNotFound(
                f"item {spec!r}: the glob matches no file; check the pattern and the "
                "current directory"
            )
        return [str(Path(x).resolve()) for x in found]
    path = Path(p)
    if path.is_dir():
        found = sorted(str(x.resolve()) for x in path.rglob("*")
                       if x.is_file() and x.suffix.lower() in IMAGE_EXTS | TEXT_EXTS)
        if not found:
            raise ItemNotFound(f"item {spec!r}: the folder holds no image or text file")
        return found
    if not path.exists():
        raise ItemNotFound(
            f"item {spec!r}: field 'path' names a file that does not exist "
            f"(looked in {str(path.resolve().parent)!r}); fix the path (to add the string "
            "itself as a text item, pass media='text')"
        )
    return [str(path.resolve())]


def _fs_paths(spec: str) -> tuple[Any, str, list[str]]:
    import fsspec

    scheme = spec.split("://", 1)[0]
    try:
        fs, token, paths = fsspec.get_fs_token_paths(spec)
    except ImportError:
        pkg, extra = _EXTRAS.get(scheme, (scheme, "all"))
        raise MissingExtra(pkg, extra, f"{scheme}:// media") from None
    return fs, token, list(paths)


def open_uri(uri: str) -> Any:
    """Open a path or URI for binary reading (a context manager)."""
    if not is_uri(uri):
        return open(uri, "rb")  # noqa: SIM115
    import fsspec

    scheme = uri.split("://", 1)[0]
    try:
        return fsspec.open(uri, "rb")
    except ImportError:
        pkg, extra = _EXTRAS.get(scheme, (scheme, "all"))
        raise MissingExtra(pkg, extra, f"{scheme}:// media") from None


def read_bytes(uri: str) -> bytes:
    try:
        with open_uri(uri) as f:
            data: bytes = f.read()
            return data
    except FileNotFoundError:
        raise ItemNotFound(f"item {uri!r}: the media file does not exist; fix the path") from None
    except MissingExtra:
        raise
    except Exception as e:  # fsspec backends raise their own errors (aiohttp, botocore, ...)
        raise ItemNotFound(
            f"item {uri!r}: the media cannot be read ({type(e).__name__}: {e}); check the "
            "URL, your network and credentials, or the file's permissions"
        ) from e


@dataclass(frozen=True, slots=True)
class MediaInfo:
    uri: str
    media: str
    content_hash: str
    width: int | None
    height: int | None
    text: str | None = None  # the content of a text file (spans need it for offsets)


def media_kind(uri: str) -> str:
    ext = os.path.splitext(uri.split("?", 1)[0])[1].lower()
    if ext in IMAGE_EXTS:
        return "image"
    if ext in TEXT_EXTS:
        return "text"
    return "other"


def probe(uri: str) -> MediaInfo:
    """Hash the content and, for images, read the EXIF-oriented size from the header."""
    data = read_bytes(uri)
    digest = hashlib.sha256(data).hexdigest()
    kind = media_kind(uri)
    width = height = None
    if kind == "text":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(
                f"item {uri!r}: the text file is not UTF-8; re-encode it as UTF-8"
            ) from None
        return MediaInfo(uri=uri, media="text", content_hash=text_hash(text), width=None,
                         height=None, text=text)
    if kind in ("image", "other"):
        width, height = image_size(data, uri) if kind == "image" else _try_image_size(data)
        if width is not None:
            kind = "image"
    return MediaInfo(uri=uri, media=kind, content_hash=digest, width=width, height=height)


def _try_image_size(data: bytes) -> tuple[int | None, int | None]:
    try:
        return image_size(data, "")
    except ValidationError:
        return None, None


def image_size(data: bytes, uri: str) -> tuple[int, int]:
    """(width, height) after EXIF orientation, read without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)  # ExifTags.Base.Orientation
    except (UnidentifiedImageError, OSError, ValueError, ImportError, SyntaxError):
        # (a plugin that patches Image.open, e.g. ultralytics' HEIF hook, may raise
        # ImportError instead of UnidentifiedImageError)
        raise ValidationError(
            f"item {uri!r}: the file is not an image Pillow can read; convert it to PNG or "
            "JPEG, or leave it out"
        ) from None
    if orientation in (5, 6, 7, 8):  # rotated a quarter turn: width and height swap
        w, h = h, w
    return int(w), int(h)


def load_image(uri: str) -> Any:
    """Decode an image with its EXIF orientation applied (a ``PIL.Image``)."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(read_bytes(uri))) as im:
        out = ImageOps.exif_transpose(im)
        out.load()
        return out


def text_hash(text: str) -> str:
    return hashlib.sha256(("text:" + text).encode("utf-8")).hexdigest()


def iter_chunks(seq: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]
