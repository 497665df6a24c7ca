"""What the format modules share: the plain dataset they convert, and media placement.

A :class:`Dataset` is the one shape every format converts from and back:
``images`` (an :class:`ImageRecord` per image), ``regions`` (image id → the
labelnb regions of that image) and ``categories`` (label names; a format's ids are
assigned from this order and written down in the export). It holds no database
handle, so the format functions work on plain data.
"""

from __future__ import annotations

import io
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from labelnb.errors import FormatError
from labelnb.types import Region

MediaMode = Literal["copy", "symlink", "none"]
MEDIA_MODES: tuple[str, ...] = ("copy", "symlink", "none")


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One image of a dataset.

    ``file_name`` is where the image lies inside the export's image folder (for a
    split, the folder of that split); ``uri`` is the source to copy it from on save, and
    the file found on load. ``width``/``height`` are the size after EXIF orientation,
    the pixel space of every region.
    """

    id: int
    file_name: str
    width: int
    height: int
    uri: str | None = None
    split: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise FormatError(
                    f"image {self.file_name!r}: field {name!r} must be a positive int, got "
                    f"{v!r}; give the image size in pixels (after EXIF orientation)"
                )


class Dataset(NamedTuple):
    """Images, their regions and the categories: what every format converts.

    ``to_coco(*dataset)`` works, and ``from_coco`` returns one.
    """

    images: list[ImageRecord]
    regions: dict[int, list[Region]]
    categories: list[str]

    def splits(self) -> dict[str | None, Dataset]:
        """The dataset cut by ``ImageRecord.split`` (in order of first appearance)."""
        out: dict[str | None, Dataset] = {}
        for im in self.images:
            ds = out.setdefault(im.split, Dataset([], {}, list(self.categories)))
            ds.images.append(im)
            ds.regions[im.id] = list(self.regions.get(im.id, ()))
        return out

    def region_count(self) -> int:
        return sum(len(self.regions.get(im.id, ())) for im in self.images)


def check_split_name(split: str) -> str:
    if not isinstance(split, str) or not split or split in (".", "..") or any(
            c in split for c in "/\\:"):
        raise FormatError(
            f"split {split!r}: a split name must be a plain folder name (e.g. 'train'); "
            "rename it"
        )
    return split


def check_categories(categories: Sequence[str], where: str) -> list[str]:
    cats = list(categories)
    if not cats:
        raise FormatError(f"{where}: no categories; give the label names in schema order")
    for c in cats:
        if not isinstance(c, str) or not c:
            raise FormatError(f"{where}: category {c!r} must be a non-empty string")
    dup = sorted({c for c in cats if cats.count(c) > 1})
    if dup:
        raise FormatError(f"{where}: categories repeat {dup}; give each label once")
    return cats


def category_index(categories: Sequence[str], label: str, where: str) -> int:
    try:
        return list(categories).index(label)
    except ValueError:
        raise FormatError(
            f"{where}: label {label!r} is not among the categories ({', '.join(categories)}); "
            "add it to the schema or map it with label_map"
        ) from None


def unique_file_names(records: Iterable[tuple[int, str]]) -> dict[int, str]:
    """item id → a file name unique in the export: the source's base name, prefixed with
    the item id where two sources share a stem (case-insensitively: VOC names its XML by
    stem, YOLO its label file, and some file systems ignore case)."""
    recs = list(records)
    base = {i: _basename(u) for i, u in recs}
    counts = Counter(Path(b).stem.lower() for b in base.values())
    return {i: (b if counts[Path(b).stem.lower()] == 1 else f"{i}_{b}") for i, b in base.items()}


def _basename(uri: str) -> str:
    path = uri.split("?", 1)[0].rstrip("/")
    name = path.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return name or "image"


def place_image(uri: str, dest: Path, mode: MediaMode) -> None:
    """Put the image at ``uri`` at ``dest``.

    ``copy`` writes the bytes unchanged, except for an image with a non-trivial EXIF
    orientation: its pixels are rotated (``PIL.ImageOps.exif_transpose``) and
    re-encoded (JPEG at quality 95), so that the file's pixels match the EXIF-oriented
    coordinates of the labels for every reader, whether it applies EXIF or not.
    ``symlink`` links to a local file (and leaves its EXIF tag in place).
    """
    from labelnb import media as media_mod

    dest.parent.mkdir(parents=True, exist_ok=True)
    local = uri[len("file://"):] if uri.startswith("file://") else (
        None if media_mod.is_uri(uri) else uri)
    if mode == "symlink":
        if local is None:
            raise FormatError(f"image {uri!r}: media='symlink' needs a local file; use "
                              "media='copy' for remote media")
        os.symlink(os.path.abspath(local), dest)
        return
    if local is not None and os.path.isfile(local):
        with open(local, "rb") as f:  # the header is enough to read the orientation
            rotated = _exif_upright(f, uri)
        if rotated is None:
            shutil.copyfile(local, dest)
        else:
            dest.write_bytes(rotated)
        return
    data = media_mod.read_bytes(uri)
    rotated = _exif_upright(io.BytesIO(data), uri)
    dest.write_bytes(data if rotated is None else rotated)


def _exif_upright(fp: Any, uri: str) -> bytes | None:
    """The image re-encoded upright if its EXIF orientation is not 1, else None."""
    from PIL import Image, ImageOps

    try:
        with Image.open(fp) as im:
            orientation = im.getexif().get(0x0112, 1)
            if orientation in (None, 1):
                return None
            fmt = im.format or "PNG"
            upright = ImageOps.exif_transpose(im)
            upright.load()
    except Exception as e:  # an unreadable image cannot be labeled in pixel space either
        raise FormatError(f"image {uri!r}: Pillow cannot read it ({e}); convert it to PNG "
                          "or JPEG") from e
    buf = io.BytesIO()
    if fmt == "JPEG":
        upright.save(buf, format="JPEG", quality=95)
    else:
        upright.save(buf, format=fmt)
    return buf.getvalue()


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) of an image file after EXIF orientation, from its header."""
    from PIL import Image

    p = os.fspath(path)
    try:
        with Image.open(p) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except FileNotFoundError:
        raise FormatError(f"image {p!r}: the file does not exist; fix the path") from None
    except Exception as e:
        raise FormatError(f"image {p!r}: Pillow cannot read it ({e}); convert it to PNG or "
                          "JPEG, or leave it out") from e
    if orientation in (5, 6, 7, 8):  # a quarter turn: width and height swap
        w, h = h, w
    return int(w), int(h)


def jsonable(v: Any) -> Any:
    """numpy scalars → Python values (for attributes read from files)."""
    if hasattr(v, "item") and not isinstance(v, str | bytes | list | dict):
        return v.item()
    return v


def plain_attrs(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(k): jsonable(v) for k, v in (attrs or {}).items()}
