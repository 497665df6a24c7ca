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
from labelnb.types import Box, Mask, Polygon, Region

MediaMode = Literal["copy", "symlink", "none"]
MEDIA_MODES: tuple[str, ...] = ("copy", "symlink", "none")
BoxPolicy = Literal["reject", "clip"]
BOX_POLICIES: tuple[str, ...] = ("reject", "clip")
#: whether a reader refuses degenerate regions (the importer) or keeps whatever a writer
#: wrote, so that it reads back (export validation, round trips)
Degenerate = Literal["reject", "keep"]
#: how far (pixels) a region may reach outside its image through float rounding; it is
#: moved onto the edge without a note
EDGE_TOL = 1e-6


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

    ``to_coco(*dataset)`` works, and ``from_coco`` returns one. An image with no entry
    in ``regions`` has no labels at all (a COCO file without ``annotations``, a YOLO
    image without a label file or labels folder): importers add it unlabeled; one
    whose entry is an empty list is labeled, with nothing on it.
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
            if im.id in self.regions:  # an image without labels stays without
                ds.regions[im.id] = list(self.regions[im.id])
        return out

    def region_count(self) -> int:
        return sum(len(self.regions.get(im.id, ())) for im in self.images)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in an input file: which image or text (``item``), where in the
    file (``where``: an annotation id, an object, a line), which ``field``, and the
    ``message`` (what is wrong; the fix after the semicolon).

    >>> print(Problem("image 'a.jpg'", "bbox", "[0, 0, -2, 5] has no area; redraw it",
    ...               "annotation 7"))
    image 'a.jpg', annotation 7: field 'bbox': [0, 0, -2, 5] has no area; redraw it
    """

    item: str
    field: str
    message: str
    where: str = ""

    def __str__(self) -> str:
        loc = f", {self.where}" if self.where and self.where != self.item else ""
        return f"{self.item}{loc}: field {self.field!r}: {self.message}"


class FormatProblems(FormatError):
    """A file (or dataset) with problems: every one found is in ``problems`` and in the
    message, not only the first."""

    def __init__(self, headline: str, problems: Sequence[Problem], *, shown: int = 200
                 ) -> None:
        self.headline = headline
        self.problems: list[Problem] = list(problems)
        n = len(self.problems)
        lines = [f"  - {p}" for p in self.problems[:shown]]
        if n > shown:
            lines.append(f"  ... and {n - shown} more (all of them are in .problems)")
        super().__init__(f"{headline}: {n} problem{'s' if n != 1 else ''}:\n"
                         + "\n".join(lines))


def raise_problems(headline: str, problems: Sequence[Problem]) -> None:
    """Raise :class:`FormatProblems` if there are any."""
    if problems:
        raise FormatProblems(headline, problems)


def text_name(text: str, width: int = 30) -> str:
    """How a problem names a text item: ``text 'Anna flew to …'``."""
    short = text if len(text) <= width else text[:width - 1] + "\u2026"
    return f"text {short!r}"


def check_box_policy(box_policy: str) -> None:
    if box_policy not in BOX_POLICIES:
        raise FormatError(f"box_policy={box_policy!r}; expected 'reject' (a region reaching "
                          "outside its image is a problem) or 'clip' (it is clipped to the "
                          "image)")


def _fmt_num(v: float) -> str:
    return f"{v:.6g}"


def map_labels(regions: Sequence[Region], label_map: Mapping[str, str | None] | None
               ) -> tuple[list[Region], int]:
    """Regions relabeled by ``label_map`` (``None`` drops); returns them and how many
    were dropped. Two regions that become one (two classes merged: ``[funny, sad]``
    with ``{"funny": "sad"}``) are kept once, the copy counted as dropped. Used by
    exports (the categories written) and imports (the schema's labels)."""
    if not label_map:
        return list(regions), 0
    out: list[Region] = []
    dropped = 0
    for r in regions:
        new = label_map.get(r.label, r.label)
        if new is None:
            dropped += 1
            continue
        moved = r if new == r.label else r.with_label(new)
        if moved in out:  # merged into a region already kept
            dropped += 1
        else:
            out.append(moved)
    return out, dropped


def fit_region(region: Region, width: int, height: int, box_policy: BoxPolicy = "reject",
               *, tol: float = EDGE_TOL, degenerate: Degenerate = "reject"
               ) -> tuple[Region, str | None]:
    """Check an image region against its image: ``(the region, a note if it was
    clipped)``, or :class:`FormatError` saying what is wrong (without the item).

    The policy, shared by every importer:

    * A box or polygon reaching outside the ``width`` x ``height`` image by more than
      ``tol`` pixels is refused with ``box_policy="reject"``; with ``"clip"`` the box
      is clipped to the image (a polygon's vertices are moved onto it) and the note
      says so. Within ``tol`` it is moved onto the edge silently (float rounding).
    * A box with no area (width or height 0) and a polygon with no area (all points
      on one line) are degenerate: refused, unless ``degenerate="keep"`` (what the
      format readers use, so that whatever a writer wrote reads back; the importer
      refuses them). A box or polygon that has no area once clipped is always
      refused. (A polygon with fewer than 3 points cannot be built at all:
      :class:`~labelnb.types.Polygon` refuses it.)
    * A mask must be encoded at the image size, and (unless ``degenerate="keep"``)
      cover at least one pixel.

    >>> box, note = fit_region(Box(-5, 2, 20, 8, "cat"), 16, 16, "clip")
    >>> box.x0, box.x1, note
    (0.0, 16.0, 'clipped [-5, 2, 20, 8] to [0, 2, 16, 8]')
    >>> fit_region(Box(3, 3, 3, 9, "cat"), 16, 16)
    Traceback (most recent call last):
    ...
    labelnb.errors.FormatError: the box [3, 3, 3, 9] has no area (0 x 6 px); drop it or redraw it
    """
    W, H = float(width), float(height)
    if isinstance(region, Box):
        c = (region.x0, region.y0, region.x1, region.y1)
        if (0.0 <= c[0] < c[2] <= W and 0.0 <= c[1] < c[3] <= H) or (
                degenerate == "keep" and 0.0 <= c[0] <= c[2] <= W and 0.0 <= c[1] <= c[3] <= H):
            return region, None  # the common case, without building any message
        shown = "[" + ", ".join(_fmt_num(v) for v in c) + "]"
        outside = max(-c[0], -c[1], c[2] - W, c[3] - H)
        if outside > tol and box_policy == "reject":
            raise FormatError(f"the box {shown} lies outside the image ({width}x{height}); "
                              "clip it, or import with box_policy='clip'")
        x0, x1 = (min(max(v, 0.0), W) for v in (c[0], c[2]))
        y0, y1 = (min(max(v, 0.0), H) for v in (c[1], c[3]))
        if (x1 - x0 <= 0 or y1 - y0 <= 0) and (degenerate == "reject" or outside > tol):
            where = (" once clipped to the image" if outside > tol else "")
            raise FormatError(f"the box {shown} has no area{where} "
                              f"({_fmt_num(x1 - x0)} x {_fmt_num(y1 - y0)} px); drop it or "
                              "redraw it")
        if (x0, y0, x1, y1) == c:
            return region, None
        fitted = Box(x0, y0, x1, y1, region.label, score=region.score,
                     attributes=region.attributes)
        note = None
        if outside > tol:
            note = (f"clipped {shown} to ["
                    + ", ".join(_fmt_num(v) for v in (x0, y0, x1, y1)) + "]")
        return fitted, note
    if isinstance(region, Polygon):
        xy = region.xy
        outside = max(float(-xy.min()), float(xy[:, 0].max() - W), float(xy[:, 1].max() - H))
        if outside > tol and box_policy == "reject":
            raise FormatError(f"the polygon lies outside the image ({width}x{height}), by "
                              f"{_fmt_num(outside)} px; clip it, or import with "
                              "box_policy='clip'")
        pts = tuple(min(max(v, 0.0), W if i % 2 == 0 else H)
                    for i, v in enumerate(region.points))
        fitted_p = region if pts == region.points else Polygon(
            pts, region.label, score=region.score, attributes=region.attributes)
        if fitted_p.area <= 0 and (degenerate == "reject" or outside > tol):
            raise FormatError(f"the polygon ({len(pts) // 2} points) has no area"
                              + (" once clipped to the image" if outside > tol else "")
                              + "; its points lie on one line: drop it or redraw it")
        note = (f"moved the polygon's points onto the {width}x{height} image "
                f"({_fmt_num(outside)} px outside)") if outside > tol else None
        return fitted_p, note
    if isinstance(region, Mask):
        if region.size != (height, width):
            raise FormatError(f"the mask is {region.size[0]}x{region.size[1]} (h x w) but the "
                              f"image is {height}x{width}; encode the mask at the image size")
        if degenerate == "reject" and region.area == 0:
            raise FormatError("the mask is empty (no pixel set); drop it or redraw it")
    return region, None


#: split names a format cannot hold, with the reason: names its own files give another
#: meaning (YOLO's data.yaml lists each split as a key beside its settings, which a
#: split of that name would replace or break in ultralytics; VOC's ``all.txt`` lists an
#: export without splits)
RESERVED_SPLITS: dict[str, dict[str, str]] = {
    "yolo": {
        name: f"data.yaml lists each split as a key, and {name!r} is {why}"
        for name, why in (
            ("path", "the dataset root every folder resolves against"),
            ("names", "the class names"),
            ("nc", "the number of classes"),
            ("channels", "ultralytics' count of image channels"),
            ("kpt_shape", "ultralytics' keypoint shape"),
            ("flip_idx", "ultralytics' keypoint flip order"),
        )
    },
    "voc": {"all": "ImageSets/Main/all.txt lists the images of an export without splits, "
                   "so they read back with no split"},
}


def check_split_name(split: str, format: str | None = None) -> str:
    """``split`` if it can name a split folder or file (of ``format``: some names are
    reserved there, see :data:`RESERVED_SPLITS`), else :class:`FormatError`."""
    if not isinstance(split, str) or not split or split in (".", "..") or any(
            c in split for c in "/\\:") or split != split.strip():
        raise FormatError(
            f"split {split!r}: a split name must be a plain folder name (e.g. 'train'), "
            "without spaces around it; rename it"
        )
    why = RESERVED_SPLITS.get(format or "", {}).get(split)
    if why is not None:
        raise FormatError(f"split {split!r} cannot be a {format} split: {why}; rename the "
                          "split (e.g. 'train', 'val', 'test')")
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
    stem, YOLO its label file, and some file systems ignore case), and where the name
    starts with ``.`` (a hidden file, which ultralytics' image search and most file
    browsers skip: ``.a.jpg`` becomes ``7_.a.jpg``). A prefixed name that is taken too
    (``1_x.png`` from another source named so) gets a counter after the id
    (``1_2_x.png``), the first one free; the result depends on the records only."""
    recs = list(records)
    base = {i: _basename(u) for i, u in recs}

    def stem(name: str) -> str:
        return Path(name).stem.lower()

    counts = Counter(stem(b) for b in base.values())
    out = {i: b for i, b in base.items() if counts[stem(b)] == 1 and not b.startswith(".")}
    taken = {stem(b) for b in out.values()}  # names kept as they are come first
    for i, b in base.items():
        if i in out:
            continue
        name, k = f"{i}_{b}", 2
        while stem(name) in taken:
            name, k = f"{i}_{k}_{b}", k + 1
        out[i] = name
        taken.add(stem(name))
    return {i: out[i] for i in base}


def _basename(uri: str) -> str:
    path = uri.split("?", 1)[0].rstrip("/")
    name = path.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return name or "image"


def place_image(uri: str, dest: Path, mode: MediaMode, *,
                expect: ImageRecord | None = None) -> None:
    """Put the image at ``uri`` at ``dest``.

    ``copy`` writes the bytes unchanged, except for an image with a non-trivial EXIF
    orientation: its pixels are rotated (``PIL.ImageOps.exif_transpose``) and
    re-encoded (JPEG at quality 95), so that the file's pixels match the EXIF-oriented
    coordinates of the labels for every reader, whether it applies EXIF or not.
    ``symlink`` links to a local file (and leaves its EXIF tag in place); a source that
    does not exist is refused, as ``copy`` refuses it, not linked. With ``expect`` (the
    image's record), a file whose size is no longer the record's is refused
    (:func:`check_image_size`).
    """
    from labelnb import media as media_mod
    from labelnb.errors import ItemNotFound

    local = uri[len("file://"):] if uri.startswith("file://") else (
        None if media_mod.is_uri(uri) else uri)
    if mode == "symlink":
        if local is None:
            raise FormatError(f"image {uri!r}: media='symlink' needs a local file; use "
                              "media='copy' for remote media")
        if not os.path.isfile(local):  # a link to nothing would export without an error
            raise ItemNotFound(f"item {uri!r}: the media file does not exist; fix the path")
        if expect is not None:
            check_image_size(expect, image_size(local), uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.abspath(local), dest)
        return
    if local is not None and os.path.isfile(local):
        with open(local, "rb") as f:  # the header is enough to read the orientation
            rotated, size = _upright(f, uri)
        if expect is not None:
            check_image_size(expect, size, uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if rotated is None:
            shutil.copyfile(local, dest)
        else:
            dest.write_bytes(rotated)
        return
    data = media_mod.read_bytes(uri)
    rotated, size = _upright(io.BytesIO(data), uri)
    if expect is not None:
        check_image_size(expect, size, uri)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data if rotated is None else rotated)


def check_image_size(image: ImageRecord, size: tuple[int, int], uri: str) -> None:
    """Refuse an image file whose (EXIF-oriented) ``size`` is not the size its record,
    and so every region on it, was labeled at: the file changed on disk after it was
    added, and an export would pair the new pixels with the old coordinates."""
    if (image.width, image.height) != tuple(size):
        raise FormatError(
            f"item {image.id} (image {image.file_name!r}, from {uri!r}): field "
            f"'width/height': the file is {size[0]}x{size[1]} px now, but the item was "
            f"added and labeled at {image.width}x{image.height} px; the file changed on disk "
            "since. Put the original file back, or add the new file as a new item and "
            "label it (leave this one out with filter=...)")


def _upright(fp: Any, uri: str) -> tuple[bytes | None, tuple[int, int]]:
    """The image re-encoded upright if its EXIF orientation is not 1 (else None), and
    its size after EXIF orientation."""
    from PIL import Image, ImageOps

    from labelnb.media import oriented_size

    try:
        with Image.open(fp) as im:
            w, h = oriented_size(im)  # (a TIFF's size is oriented by Pillow already)
            orientation = im.getexif().get(0x0112, 1)
            if orientation in (None, 1):
                return None, (int(w), int(h))
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
    return buf.getvalue(), (int(w), int(h))


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) of an image file after EXIF orientation, from its header."""
    from PIL import Image

    from labelnb.media import oriented_size

    p = os.fspath(path)
    try:
        with Image.open(p) as im:
            w, h = oriented_size(im)  # (a TIFF's size is oriented by Pillow already)
    except FileNotFoundError:
        raise FormatError(f"image {p!r}: the file does not exist; fix the path") from None
    except Exception as e:
        raise FormatError(f"image {p!r}: Pillow cannot read it ({e}); convert it to PNG or "
                          "JPEG, or leave it out") from e
    return w, h


def jsonable(v: Any) -> Any:
    """numpy scalars → Python values (for attributes read from files)."""
    if hasattr(v, "item") and not isinstance(v, str | bytes | list | dict):
        return v.item()
    return v


def plain_attrs(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(k): jsonable(v) for k, v in (attrs or {}).items()}
