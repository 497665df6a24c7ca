"""Media by URI through fsspec: local paths, http(s), s3://, gs://.

Items reference media; bytes never go into the database. On import we read each
file once to hash its content (for deduplication) and to read the image size from
its header (EXIF orientation applied, no full decode).
"""

from __future__ import annotations

import glob
import hashlib
import io
import logging
import os
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from labelnb.errors import ItemNotFound, MissingExtra, ValidationError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}
TEXT_EXTS = {".txt", ".md"}
_REMOTE = ("http://", "https://", "s3://", "gs://", "gcs://", "memory://", "file://")
log = logging.getLogger("labelnb")
_EXTRAS = {"s3": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"),
           "http": ("aiohttp", "http"), "https": ("aiohttp", "http")}


def is_uri(s: str) -> bool:
    return s.startswith(_REMOTE)


def has_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


#: the file extensions of each item media, for picking files out of a folder or a
#: glob's matches
MEDIA_EXTS = {"image": IMAGE_EXTS, "text": TEXT_EXTS}
_EXAMPLE_EXT = {"image": ".jpg", "text": ".txt"}


def expand(spec: str, media: Collection[str] | None = None) -> list[str]:
    """A path, glob or URI → a list of absolute paths / URIs. Raises if nothing exists.

    A local path that exists is taken literally, even when its name holds glob
    characters (``cat[1].jpg``, ``a?.png``): only a path that does not exist is a
    pattern. An http(s) URL is taken as it is (its ``?`` starts a query). A folder
    gives the files in it (and below) of the ``media`` wanted (``"image"``,
    ``"text"``; default both), by extension: a folder of images keeps its YOLO label
    ``.txt`` files or a ``README.md`` out of an image project; hidden files and
    folders (``.DS_Store``, ``._photo.jpg``) and a ``__MACOSX`` folder are skipped. A
    glob's matches are picked the same way (``photos/*`` skips ``photos/notes.txt``),
    except that a glob which spells out an extension (``scans/*.jp2``) takes those
    files; a folder or glob with nothing to take is an error. A file named on its own
    is always taken (and refused by the project, with its reason, if it is no media it
    labels).

    >>> expand("https://cdn.example.com/a.jpg?w=640&sig=x*y")
    ['https://cdn.example.com/a.jpg?w=640&sig=x*y']
    """
    if is_uri(spec):
        # a web address is never a pattern: HTTP has no listing to glob, and its '?'
        # starts a query (a presigned S3/GCS link, an image CDN's size)
        if has_glob(spec) and not spec.startswith(("http://", "https://")):
            fs, _, paths = _fs_paths(spec)
            found = [fs.unstrip_protocol(p) for p in sorted(paths)]
            if not found:
                raise ItemNotFound(f"item {spec!r}: the pattern matches no file; check it")
            return _of_media(spec, found, media, "glob")
        return [spec]
    p = os.path.expanduser(spec)
    if has_glob(p) and not os.path.exists(p):
        found = sorted(x for x in glob.glob(p, recursive=True) if os.path.isfile(x))
        if not found:
            raise ItemNotFound(
                f"item {spec!r}: the glob matches no file; check the pattern and the "
                "current directory"
            )
        return _of_media(spec, [str(Path(x).resolve()) for x in found], media, "glob")
    path = Path(p)
    if path.is_dir():
        files = sorted(str(x.resolve()) for x in path.rglob("*")
                       if x.is_file() and not _hidden(x.relative_to(path)))
        return _of_media(spec, files, media, "folder")
    if not path.exists():
        raise ItemNotFound(
            f"item {spec!r}: field 'path' names a file that does not exist "
            f"(looked in {str(path.resolve().parent)!r}); fix the path"
            + ("" if media is not None and "text" not in media else
               " (to add the string itself as a text item, pass media='text')"))
    return [str(path.resolve())]


def _hidden(rel: Path) -> bool:
    """Whether a file found in a folder is no item: hidden (a name starting with '.',
    or inside such a folder: ``.DS_Store``, ``.git/``, macOS's ``._photo.jpg``
    AppleDouble files) or in the ``__MACOSX`` folder a zip made on macOS carries (its
    ``._*.jpg`` files are metadata, not images)."""
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _of_media(spec: str, files: list[str], media: Collection[str] | None,
              source: Literal["folder", "glob"]) -> list[str]:
    """The ``files`` that a folder holds or a glob matches that are of the ``media``
    wanted, by extension (as :func:`expand` picks them); the others are skipped. A glob
    that spells out an extension (``scans/*.jp2``) names those files: they are kept, and
    one that is no media for the project gets the error an explicitly named file gets.
    Nothing kept: an error that names ``spec``, what it found and the fix."""
    wanted = [m for m in MEDIA_EXTS if media is None or m in media]
    exts: set[str] = set().union(*(MEDIA_EXTS[m] for m in wanted))
    named = _ext(spec) if source == "glob" and not has_glob(_ext(spec)) else ""
    kept = [f for f in files if _ext(f) in exts or (named and _ext(f) == named)]
    if kept:
        if len(kept) < len(files) and source == "glob":
            keep = set(kept)
            left = [f for f in files if f not in keep]
            log.info("labelnb: the glob %r matched %d file(s) that are no %s media; "
                     "skipped: %s%s", spec, len(left), " or ".join(wanted),
                     ", ".join(os.path.basename(f) for f in left[:5]),
                     ", ..." if len(left) > 5 else "")
        return kept
    what = " or ".join(wanted) or "media"
    others = [f"{n} {m} file{'s' if n != 1 else ''}" for m in MEDIA_EXTS
              if m not in wanted and (n := sum(_ext(f) in MEDIA_EXTS[m] for f in files))]
    if source == "folder":
        raise ItemNotFound(
            f"item {spec!r}: the folder holds no {what} file ({', '.join(sorted(exts))})"
            + (f"; it holds {', '.join(others)}, not wanted here" if others else ""))
    names = ", ".join(os.path.basename(f.rstrip("/")) or f for f in files[:5])
    example = "*" + (_EXAMPLE_EXT[wanted[0]] if wanted else ".ext")
    head = spec.rsplit("/", 1)[0] + "/" if "/" in spec else ""
    raise ItemNotFound(
        f"item {spec!r}: the glob matches {len(files)} file{'s' if len(files) != 1 else ''}"
        f" ({names}{', ...' if len(files) > 5 else ''}) but no {what} file "
        f"({', '.join(sorted(exts))})"
        + (f"; it matches {', '.join(others)}, not wanted here" if others else "")
        + f". Fix: make the pattern pick the {what} files (e.g. {head + example!r}); "
        "files of another extension are taken when the pattern spells it out "
        f"({head + '*.jp2'!r}) or when named one by one")


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
    except FileNotFoundError as e:
        remote = "://" in uri and not uri.startswith("file://")
        cause = e.__cause__ or e.__context__
        if remote and cause is not None and not isinstance(cause, FileNotFoundError) \
                and type(cause).__name__ != "ClientResponseError":
            # fsspec reports a server it could not reach as a missing file
            raise ItemNotFound(
                f"item {uri!r}: the server could not be reached ({type(cause).__name__}: "
                f"{cause}); check the URL's host and port and your network") from e
        raise ItemNotFound(
            f"item {uri!r}: " + ("the server has no file there (not found); fix the URL"
                                 if remote else "the media file does not exist; fix the path")
        ) from None
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
        try:  # without a leading byte-order mark, which editors on Windows write
            text = data.decode("utf-8-sig")
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


#: EXIF orientations that turn the image a quarter turn (width and height swap)
_QUARTER_TURNS = (5, 6, 7, 8)


def oriented_size(im: Any) -> tuple[int, int]:
    """(width, height) of an opened, not yet decoded PIL image after its EXIF
    orientation, as :func:`PIL.ImageOps.exif_transpose` will give it.

    Most plugins report the stored size in ``im.size``, so a quarter-turn orientation
    (5-8) swaps it. Pillow's TIFF plugin already reports the oriented size (it rotates
    the image itself on load), so it must not be swapped again: a TIFF's size is
    swapped only when ``im.size`` still equals its stored width and height tags (older
    Pillow versions), which keeps this right whichever Pillow is installed.
    """
    w, h = im.size
    if im.getexif().get(0x0112, 1) not in _QUARTER_TURNS:  # ExifTags.Base.Orientation
        return int(w), int(h)
    tags = getattr(im, "tag_v2", None) if im.format == "TIFF" else None
    if tags is not None and (tags.get(256), tags.get(257)) != (w, h):
        return int(w), int(h)  # the plugin oriented it already
    return int(h), int(w)


class _Damaged(Exception):
    """A JPEG whose header reads but whose image data does not decode."""


def _check_jpeg_complete(im: Any, data: bytes) -> None:
    """Raise :class:`_Damaged` if the JPEG ``im`` (opened from ``data``, not decoded)
    does not decode: a truncated download or copy has a readable header, so it would be
    added and fail only when shown.

    A file that ends with the JPEG end-of-image marker (``FF D9``, zero padding after it
    allowed) is complete: nothing more is read. Any other (cut off, or carrying data
    after the image, as a phone's motion photo does) is decoded at 1/8 scale (``draft``:
    libjpeg's DCT scaling), which reads all the image data at a fraction of a full
    decode's cost; decoding every JPEG that way made adding 200 1080p photos about ten
    times slower."""
    if data[-64:].rstrip(b"\x00").endswith(b"\xff\xd9"):
        return
    try:
        im.draft(None, (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
        im.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise _Damaged(str(e) or type(e).__name__) from None


def image_size(data: bytes, uri: str) -> tuple[int, int]:
    """(width, height) after EXIF orientation, read without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = oriented_size(im)
            if im.format in ("JPEG", "MPO"):
                _check_jpeg_complete(im, data)
    except Image.DecompressionBombError as e:  # over twice PIL's limit
        raise _too_large(e, f"item {uri!r}", "adding it") from None
    except _Damaged as e:
        raise ValidationError(
            f"item {uri!r}: the JPEG file is truncated or damaged (Pillow: {e}); it would "
            "fail when it is shown for labeling. Copy or download it again, or leave it out"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, ImportError, SyntaxError):
        # (a plugin that patches Image.open, e.g. ultralytics' HEIF hook, may raise
        # ImportError instead of UnidentifiedImageError)
        raise ValidationError(
            f"item {uri!r}: the file is not an image Pillow can read; convert it to PNG or "
            "JPEG, or leave it out"
        ) from None
    return w, h


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """8-bit values of an image array, for display and the wand: ``uint8`` as it is;
    floats in [0, 1] times 255; any other range (16-bit microscopy or medical images,
    floats beyond 1, negative values) stretched linearly from its own minimum and
    maximum to 0-255, as image viewers show them (clipping would make a 16-bit image
    white, and a cast would wrap it around).

    >>> to_uint8(np.array([[1000, 3000]], np.uint16)).tolist(), to_uint8(np.array([0.5])).tolist()
    ([[0, 255]], [128])
    """
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if not arr.size:
        return arr.astype(np.uint8)
    a = arr.astype(np.float64)
    finite = np.isfinite(a)
    if not finite.all():
        a = np.where(finite, a, 0.0)
    lo, hi = float(a.min()), float(a.max())
    if np.issubdtype(arr.dtype, np.floating) and lo >= 0.0 and hi <= 1.0:
        return np.rint(a * 255.0).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer) and lo >= 0 and hi <= 255:
        return a.astype(np.uint8)
    if hi == lo:
        return np.zeros(arr.shape, np.uint8)
    return np.rint((a - lo) * (255.0 / (hi - lo))).astype(np.uint8)


#: PIL modes of more than 8 bits per channel (their convert("RGB") clips at 255)
_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def eight_bit(im: Any) -> Any:
    """``im`` (a PIL image) with 8 bits per channel: 16-bit and float modes through
    :func:`to_uint8` (PIL's own ``convert("RGB")`` clips them at 255)."""
    from PIL import Image

    if im.mode in _WIDE_MODES:
        return Image.fromarray(to_uint8(np.asarray(im)))
    return im


def decode_image(data: bytes, what: str) -> Any:
    """``data`` decoded as an image (a ``PIL.Image``, its EXIF orientation applied);
    ``what`` names it in the error when PIL cannot read it."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            out = ImageOps.exif_transpose(im)
            out.load()
            return out
    # ImportError: ultralytics, once imported, patches PIL's open to fetch a HEIF plugin
    # when PIL cannot identify the data, and fails there without the network
    except Image.DecompressionBombError as e:
        raise _too_large(e, what, "reading it") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ImportError) as e:
        raise ValidationError(f"{what} cannot be read as an image by PIL ({e}); give "
                              "PNG/JPEG/TIFF/... data") from None


def _too_large(e: Exception, what: str, doing: str) -> ValidationError:
    """The error for an image over twice ``PIL.Image.MAX_IMAGE_PIXELS`` (PIL's
    decompression-bomb guard): its size and the setting to raise."""
    from PIL import Image

    m = re.search(r"\((\d+) pixels\)", str(e))
    size = f"{int(m.group(1)):,} pixels" if m else "more pixels than PIL allows"
    limit = f"{Image.MAX_IMAGE_PIXELS:,}" if Image.MAX_IMAGE_PIXELS else "none"
    return ValidationError(
        f"{what}: the image has {size}, over twice PIL.Image.MAX_IMAGE_PIXELS ({limit}), "
        "PIL's guard against decompression bombs; if you trust the file, raise that "
        f"setting (PIL.Image.MAX_IMAGE_PIXELS = ..., or None for no limit) before {doing}, "
        "or downscale the image")


def load_image(uri: str) -> Any:
    """Decode an image with its EXIF orientation applied (a ``PIL.Image``)."""
    return decode_image(read_bytes(uri), f"image {uri!r}")


def text_hash(text: str) -> str:
    return hashlib.sha256(("text:" + text).encode("utf-8")).hexdigest()


def iter_chunks(seq: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


ImageLike = Any  # str | os.PathLike | PIL.Image.Image | np.ndarray | bytes


def as_pil(image: ImageLike) -> Any:
    """A PIL image (EXIF orientation applied, 8 bits per channel: see
    :func:`to_uint8`) from a path/URI, PIL image, array or bytes."""
    from PIL import Image, ImageOps

    if isinstance(image, str | os.PathLike):
        return eight_bit(load_image(os.fspath(image)))
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        return eight_bit(decode_image(data, f"image: the {len(data)} bytes given"))
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
