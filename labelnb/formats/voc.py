"""Pascal VOC XML (one ``Annotations/<name>.xml`` per image).

The coordinate convention, precisely:

* VOC numbers pixels from 1, and ``xmin, ymin, xmax, ymax`` are the first and last
  pixel the box covers, both inclusive.
* labelnb boxes are continuous, origin at the top-left corner of pixel (0, 0): the box
  ``x0=0, x1=1`` covers exactly the first pixel column.
* So a box on the pixel grid converts as ``xmin = x0 + 1``, ``ymin = y0 + 1``,
  ``xmax = x1``, ``ymax = y1`` and back as ``x0 = xmin - 1``, ``y0 = ymin - 1``,
  ``x1 = xmax``, ``y1 = ymax``. The one-pixel box ``Box(0, 0, 1, 1)`` is
  ``xmin=1, ymin=1, xmax=1, ymax=1``.
* Fractional corners: with ``integer=True`` (the default, what VOC tools expect)
  each edge is first snapped to the nearest pixel boundary, ``round(v)`` with halves
  going up (``floor(v + 0.5)``), then converted as above. A box whose edges snap
  together keeps the one pixel under its centre (inside the image), so
  ``xmax >= xmin`` always; each edge then moves by less than one pixel. With
  ``integer=False`` the exact values ``x0 + 1`` and ``x1`` are written as decimals
  (lossless; most readers, e.g. torchvision and mmdetection, parse them with
  ``float``).
* On load, values are read as floats and converted back; a box reaching outside the
  image (e.g. the common 0-based ``xmin = 0``) is clipped to it.

VOC stores boxes only (its segmentations are separate PNGs): polygons and masks are
written as their bounding boxes, and :func:`to_voc` says so in its ``notes``.
``difficult``, ``truncated`` and ``pose`` are read from / written to the region's
attributes when present (defaults ``0``, ``0``, ``Unspecified``); other attributes go
to an ``<attributes>`` element. The flags round-trip exactly: VOC tools need
``<difficult>`` in every object, so a region without the flag gets ``0``, and one whose
flag is ``False`` gets ``0`` plus an ``<attributes>`` entry ``False``; reading a file
labelnb wrote, a bare ``0`` is "no flag" (see :func:`from_voc`). Attributes are text
in the XML: reading, the project's attribute types say what each is (a ``text``
attribute ``"007"`` stays ``"007"``, a ``bool`` flag ``0`` of another tool's file is
``False``; see :func:`attribute_value`).

>>> from labelnb.types import Box
>>> from labelnb.formats import ImageRecord
>>> xml = to_voc(ImageRecord(1, "a.jpg", 64, 48), [Box(0, 0, 1, 1, "cat")])
>>> "<xmin>1</xmin>" in xml and "<xmax>1</xmax>" in xml
True
>>> from_voc(xml)[1]
[Box(x0=0.0, y0=0.0, x1=1.0, y1=1.0, label='cat', score=None, attributes={})]
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from labelnb.errors import FormatError, LabelnbError
from labelnb.formats._common import (
    BoxPolicy,
    Dataset,
    Degenerate,
    FormatProblems,
    ImageRecord,
    MediaMode,
    Problem,
    category_index,
    check_box_policy,
    check_categories,
    check_split_name,
    fit_region,
    image_size,
    place_image,
)
from labelnb.types import Box, Mask, Polygon, Region

_KNOWN = ("difficult", "truncated", "pose")
_FLAGS = ("truncated", "difficult")  # in the order VOC writes them
#: ``<source><database>`` of the files :func:`to_voc` writes
DATABASE = "labelnb"


def _snap(v: float) -> int:
    return int(math.floor(v + 0.5))


def _grid(a: float, b: float, size: int | None) -> tuple[int, int]:
    """0-based first pixel and exclusive end of the edges ``a <= b`` snapped to the grid;
    an edge pair that snaps together keeps the pixel under its centre."""
    lo, hi = _snap(a), _snap(b)
    if hi <= lo:
        lo = int(math.floor((a + b) / 2.0))
        if size is not None:
            lo = min(max(lo, 0), size - 1)
        hi = lo + 1
    return lo, hi


def box_to_voc(box: Box, *, integer: bool = True, width: int | None = None,
               height: int | None = None) -> tuple[float, float, float, float]:
    """``(xmin, ymin, xmax, ymax)`` in VOC's 1-based inclusive pixel indices.

    With ``integer``, a box that snaps to zero width keeps the one pixel under its
    centre (inside the image when its ``width`` / ``height`` are given)."""
    if integer:
        x0, x1 = _grid(box.x0, box.x1, width)
        y0, y1 = _grid(box.y0, box.y1, height)
        return (x0 + 1, y0 + 1, x1, y1)
    return (box.x0 + 1.0, box.y0 + 1.0, box.x1, box.y1)


def box_from_voc(xmin: float, ymin: float, xmax: float, ymax: float, label: str,
                 **kw: Any) -> Box:
    """The labelnb box for VOC corners (1-based inclusive)."""
    return Box(xmin - 1.0, ymin - 1.0, xmax, ymax, label, **kw)


def _num(v: float) -> str:
    if float(v).is_integer():
        return str(int(v))
    return repr(float(v))


def _sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def to_voc(image: ImageRecord, regions: Sequence[Region], *, folder: str = "JPEGImages",
           depth: int = 3, integer: bool = True, notes: list[str] | None = None,
           categories: Sequence[str] | None = None) -> str:
    """The VOC XML document (a string) for one image and its regions.

    ``notes``, if given, collects what VOC could not keep (polygons and masks written
    as boxes). ``categories``, if given (the labels of ``labels.txt``), refuses a
    region whose label is not among them, as the other formats do."""
    if categories is not None:
        for r in regions:
            category_index(categories, r.label, f"image {image.file_name!r} (id {image.id})")
    root = ET.Element("annotation")
    _sub(root, "folder", folder)
    _sub(root, "filename", image.file_name)
    src = _sub(root, "source")
    _sub(src, "database", DATABASE)
    size = _sub(root, "size")
    _sub(size, "width", image.width)
    _sub(size, "height", image.height)
    _sub(size, "depth", depth)
    _sub(root, "segmented", 0)
    for r in regions:
        where = f"image {image.file_name!r}, {type(r).__name__} {r.label!r}"
        if isinstance(r, Box):
            box = r
        elif isinstance(r, Polygon | Mask):
            box = r.bbox
            if notes is not None:
                notes.append(f"{where}: VOC holds boxes; written as its bounding box")
        else:
            raise FormatError(f"{where}: VOC holds boxes, not {type(r).__name__}; export this "
                              "project to another format")
        if not box.within(image.width, image.height):
            raise FormatError(f"{where}: the box {box.x0, box.y0, box.x1, box.y1} lies outside "
                              f"the image ({image.width}x{image.height}); clip it")
        obj = _sub(root, "object")
        _sub(obj, "name", r.label)
        attrs = dict(r.attributes)
        flags = {k: bool(attrs.pop(k)) for k in _FLAGS if k in attrs}
        _sub(obj, "pose", attrs.pop("pose", "Unspecified"))
        for k in _FLAGS:  # VOC tools need both: 0 where the region has no flag
            _sub(obj, k, int(flags.get(k, False)))
        # in a file labelnb writes, <difficult>0</difficult> alone means "no flag": an
        # explicit False is also an attribute, so that it reads back as False
        attrs.update({k: False for k, v in flags.items() if not v})
        if r.score is not None:
            _sub(obj, "score", repr(r.score))
        bb = _sub(obj, "bndbox")
        corners = box_to_voc(box, integer=integer, width=image.width, height=image.height)
        for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), corners, strict=True):
            _sub(bb, tag, _num(v))
        if attrs:
            el = _sub(obj, "attributes")
            for k, v in attrs.items():
                a = _sub(el, "attribute")
                _sub(a, "name", k)
                _sub(a, "value", v)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def _text(el: ET.Element, path: str, where: str, *, required: bool = True) -> str | None:
    found = el.find(path)
    if found is None or found.text is None or not found.text.strip():
        if required:
            raise FormatError(f"{where}: element <{path}> is missing or empty; add it")
        return None
    return found.text.strip()


def _float(el: ET.Element, path: str, where: str) -> float:
    t = _text(el, path, where)
    try:
        return float(t)  # type: ignore[arg-type]
    except ValueError:
        raise FormatError(f"{where}: <{path}> is {t!r}, not a number; fix it") from None


#: a label → the types its attributes have in the project (``{"difficult": "bool",
#: "track": "text"}``, as :class:`labelnb.schema.Attribute` names them)
AttributeTypes = Callable[[str], Mapping[str, str]]
_BOOLS = {"true": True, "1": True, "false": False, "0": False}


def attribute_value(text: str, type: str | None = None) -> Any:
    """An attribute's value from its VOC text. With the attribute's ``type``:
    ``"text"`` and ``"choice"`` keep the text as it is (``"007"`` stays ``"007"``),
    ``"bool"`` reads true/false/1/0, ``"number"`` an int or a float; text that does
    not fit the type stays text (the schema check then names it). Without a type the
    value is guessed, but only as a number or boolean that writes back as the same text.

    >>> attribute_value("007"), attribute_value("7"), attribute_value("007", "number")
    ('007', 7, 7)
    >>> attribute_value("1", "text"), attribute_value("0", "bool"), attribute_value("True")
    ('1', False, True)
    """
    if type in ("text", "choice"):
        return text
    if type == "bool":
        if text.strip().lower() in _BOOLS:
            return _BOOLS[text.strip().lower()]
        try:
            return bool(float(text))
        except ValueError:
            return text
    if type == "number":
        try:
            return int(text)
        except ValueError:
            pass
        try:
            f = float(text)
        except ValueError:
            return text
        return f if math.isfinite(f) else text
    try:
        if str(int(text)) == text:
            return int(text)
    except ValueError:
        pass
    try:
        f = float(text)
        if math.isfinite(f) and repr(f) == text:
            return f
    except ValueError:
        pass
    return {"true": True, "false": False}.get(text.lower(), text)


def kept_attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """What a VOC file keeps of a region's attributes: ``difficult`` and ``truncated``
    as flags, ``True`` or ``False`` where the region has them (absent stays absent; see
    :func:`from_voc`), ``pose`` as text (absent is ``Unspecified``), the others as
    written. Two regions whose kept attributes are equal are equal in VOC."""
    out = dict(attrs)
    if "pose" in out and out["pose"] is None:
        del out["pose"]
    for k in _FLAGS:
        if k in out:
            out[k] = bool(out[k])
    if "pose" in out:
        out["pose"] = str(out["pose"])
        if out["pose"] == "Unspecified":
            del out["pose"]
    return out


def _edge(v: float, size: int) -> float:
    """A 0-based writer's edge, up to one pixel outside the image, moved onto it."""
    if -1.0 <= v < 0.0:
        return 0.0
    if size < v <= size + 1.0:
        return float(size)
    return v


def from_voc(xml: str | bytes, *, where: str = "VOC XML", image_id: int = 0,
             box_policy: BoxPolicy = "clip", problems: list[Problem] | None = None,
             notes: list[str] | None = None, degenerate: Degenerate = "keep",
             attribute_types: AttributeTypes | None = None
             ) -> tuple[ImageRecord, list[Region]]:
    """The image record and boxes of one VOC XML document.

    A box reaching at most one pixel outside the image (what 0-based writers produce,
    e.g. ``xmin = 0``) is moved onto it silently; one reaching farther is clipped
    (``box_policy="clip"``, the default, noted in ``notes``) or refused (``"reject"``).
    A box with ``xmax < xmin`` is refused, and so is one without area (which VOC's
    exact decimals can hold) with ``degenerate="reject"``. ``attribute_types`` (a label →
    its attributes' types, e.g. from the project's schema) says how attribute text is
    read (see :func:`attribute_value`). ``<difficult>`` / ``<truncated>`` ``1`` is
    ``True``; ``0``: in a file :func:`to_voc` wrote (``<source><database>labelnb``) the
    region had no flag, and it is left out (an explicit ``False`` is written as an
    ``<attributes>`` entry too, read as ``False``); in any other file, ``0`` of a flag
    ``attribute_types`` knows is ``False``, else left out, as is ``pose``
    ``Unspecified``. Problems with one object raise
    :class:`~labelnb.formats._common.FormatProblems` listing all of them, or, with
    ``problems`` (a list), are appended there and the object is left out. A document
    that cannot be read at all (no filename or size) always raises."""
    check_box_policy(box_policy)
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise FormatError(f"{where}: not well-formed XML ({e})") from None
    if root.tag != "annotation":
        raise FormatError(f"{where}: the root element is <{root.tag}>, not <annotation>")
    file_name = _text(root, "filename", where)
    assert file_name is not None
    width, height = _text(root, "size/width", where, required=False), _text(
        root, "size/height", where, required=False)
    if width is None or height is None:
        raise FormatError(f"{where}: <size><width>/<height> are missing; add the image size "
                          "in pixels")
    try:
        image = ImageRecord(image_id, file_name, int(float(width)), int(float(height)))
    except ValueError:
        raise FormatError(f"{where}: <size> {width!r} x {height!r} is not a number") from None
    item = f"image {file_name!r}"
    ours = root.findtext("source/database", "").strip() == DATABASE  # written by to_voc
    found: list[Problem] = []
    regions: list[Region] = []
    for n, obj in enumerate(root.iter("object")):
        ow = f"{where}, object #{n}"
        field = "bndbox"
        try:
            field = "name"
            name = _text(obj, "name", ow)
            assert name is not None
            field = "bndbox"
            coords = [_float(obj, f"bndbox/{t}", ow) for t in ("xmin", "ymin", "xmax", "ymax")]
            field = "attributes"
            attrs: dict[str, Any] = {}
            types = attribute_types(name) if attribute_types is not None else {}
            for k in ("difficult", "truncated"):
                v = _text(obj, k, ow, required=False)
                if ours and v == "0":  # the region had no flag (False is an attribute too)
                    continue
                if v is not None and k in types:
                    attrs[k] = attribute_value(v, types[k])
                elif v is not None and v not in ("0",):
                    attrs[k] = bool(int(float(v)))
            pose = _text(obj, "pose", ow, required=False)
            if pose is not None and pose != "Unspecified":
                attrs["pose"] = pose
            for a in obj.findall("attributes/attribute"):
                name_t = _text(a, "name", ow)
                assert name_t is not None
                if name_t in _FLAGS and attrs.get(name_t) is True:
                    continue  # the flag's element says 1: it wins over an entry left behind
                type_t = types.get(name_t)
                if type_t in ("text", "choice") and a.find("value") is not None:
                    # a text is kept as written: spaces, and the empty text
                    attrs[name_t] = a.findtext("value") or ""
                    continue
                value_t = _text(a, "value", ow, required=False)
                attrs[name_t] = (attribute_value(value_t, type_t)
                                 if value_t is not None else None)
            field = "score"
            score_t = _text(obj, "score", ow, required=False)
            score = float(score_t) if score_t is not None else None
            field = "bndbox"
            x0, y0 = _edge(coords[0] - 1.0, image.width), _edge(coords[1] - 1.0, image.height)
            x1, y1 = _edge(coords[2], image.width), _edge(coords[3], image.height)
            eps = 1e-9 * max(image.width, image.height)  # (xmin - 1) + 1 is not exact
            if x1 < x0 - eps or y1 < y0 - eps:
                raise FormatError(
                    f"xmin..xmax {_num(coords[0])}..{_num(coords[2])}, ymin..ymax "
                    f"{_num(coords[1])}..{_num(coords[3])} cover no pixel (VOC corners are "
                    "1-based and inclusive: xmax >= xmin); drop the object or fix it")
            box, note = fit_region(Box(x0, y0, max(x1, x0), max(y1, y0), name,
                                       attributes=attrs, score=score),
                                   image.width, image.height, box_policy, degenerate=degenerate)
        except (LabelnbError, ValueError) as e:
            msg = str(e)
            if msg.startswith(ow + ": "):
                msg = msg[len(ow) + 2:]
            found.append(Problem(item, field, msg, ow))
            continue
        if note is not None and notes is not None:
            notes.append(f"{item}, {ow}: {note}")
        regions.append(box)
    if found:
        if problems is None:
            raise FormatProblems(where, found)
        problems.extend(found)
    return image, regions


# --- files ---------------------------------------------------------------------------


def save_voc(dataset: Dataset, root: str | os.PathLike[str], *, media: MediaMode = "copy",
             integer: bool = True, notes: list[str] | None = None,
             on_image: Callable[[ImageRecord], None] | None = None) -> list[Path]:
    """Write a VOC devkit layout under ``root``: ``Annotations/<stem>.xml``,
    ``JPEGImages/<file>`` (copied / symlinked / left out), ``ImageSets/Main/<split>.txt``
    (the stems of each split) and ``labels.txt`` (the categories, one a line, in
    order). Returns the XML files written. A region whose label is not among the
    categories is refused before anything is written."""
    r = Path(root)
    cats = check_categories(dataset.categories, "save_voc")
    for im in dataset.images:  # up front: a label labels.txt would not list writes nothing
        for reg in dataset.regions.get(im.id, ()):
            category_index(cats, reg.label, f"image {im.file_name!r} (id {im.id})")
    (r / "Annotations").mkdir(parents=True, exist_ok=True)
    (r / "labels.txt").write_text("".join(c + "\n" for c in cats), encoding="utf-8")
    stems: dict[str, str] = {}
    written: list[Path] = []
    splits: dict[str, list[str]] = {}
    for im in dataset.images:
        stem = Path(im.file_name).stem
        if stem in stems:
            raise FormatError(f"images {stems[stem]!r} and {im.file_name!r} share the name "
                              f"{stem!r}; VOC names annotations by file stem, so rename one")
        stems[stem] = im.file_name
        xml = to_voc(im, dataset.regions.get(im.id, ()), integer=integer, notes=notes,
                     depth=_depth(im.uri))
        path = r / "Annotations" / f"{stem}.xml"
        path.write_text(xml, encoding="utf-8")
        written.append(path)
        splits.setdefault(check_split_name(im.split, "voc") if im.split else "all", []).append(stem)
        if media != "none":
            if im.uri is None:
                raise FormatError(f"image {im.file_name!r}: no source 'uri' to copy it from; "
                                  "set ImageRecord.uri or pass media='none'")
            place_image(im.uri, r / "JPEGImages" / im.file_name, media, expect=im)
        if on_image is not None:
            on_image(im)
    main = r / "ImageSets" / "Main"
    main.mkdir(parents=True, exist_ok=True)
    for split, names in splits.items():
        (main / f"{split}.txt").write_text("".join(s + "\n" for s in names), encoding="utf-8")
    return written


def _depth(uri: str | None) -> int:
    """The image's channel count for ``<size><depth>`` (1 grey, 3 colour, 4 with alpha),
    from a local file's header; 3 where it cannot be read cheaply (a remote URI)."""
    if uri is None or "://" in uri and not uri.startswith("file://"):
        return 3
    try:
        from PIL import Image

        with Image.open(uri.removeprefix("file://")) as img:  # the header only
            return len(img.getbands())
    except (OSError, ValueError):
        return 3


#: split lists that are unions of others: an image listed in ``train.txt`` or
#: ``val.txt`` too takes that split (official devkits list every image in trainval.txt)
_UNION_SPLITS = ("trainval", "all")


def _splits(main: Path, stems: set[str]) -> dict[str, str | None]:
    """The split of each stem from the lists in ``ImageSets/Main``. A line is a stem,
    spaces included (``my photo 1``); a per-class line (``2008_000008 -1``: a known
    stem, then -1, 0 or 1) is not a split, and a file of such lines is skipped.
    ``train``/``val``/``test`` win over ``trainval``; ``all`` means no split."""
    if not main.is_dir():
        return {}
    files = sorted(main.glob("*.txt"), key=lambda f: (f.stem in _UNION_SPLITS, f.stem))
    split_of: dict[str, str | None] = {}
    for f in files:
        names: list[str] = []
        per_class = 0
        for ln in f.read_text(encoding="utf-8").splitlines():
            if not ln.strip():
                continue
            name = ln if ln in stems else ln.strip()
            fields = name.rsplit(None, 1)
            if name not in stems and len(fields) == 2 and fields[1] in ("-1", "0", "1") \
                    and fields[0] in stems:
                per_class += 1
                continue
            names.append(name)
        if per_class and not names:  # a per-class list (e.g. person_train.txt)
            continue
        for name in names:
            split_of.setdefault(name, None if f.stem == "all" else f.stem)
    return split_of


def load_voc(root: str | os.PathLike[str], *, categories: Sequence[str] | None = None,
             box_policy: BoxPolicy = "clip", problems: list[Problem] | None = None,
             notes: list[str] | None = None, degenerate: Degenerate = "keep",
             attribute_types: AttributeTypes | None = None) -> Dataset:
    """Read a VOC layout written by :func:`save_voc` (or any devkit folder with
    ``Annotations/*.xml``). Splits come from ``ImageSets/Main/<split>.txt``
    (``all`` means no split; ``train``/``val``/``test`` win over ``trainval``; a stem
    may hold spaces; per-class lists such as ``person_train.txt`` are skipped);
    categories from ``labels.txt``, else ``categories``, else the names in order of
    first appearance. Image sizes are taken from the XML; ``uri`` points into
    ``JPEGImages`` where the file exists. ``box_policy``, ``problems``, ``notes``,
    ``degenerate`` and ``attribute_types`` as in :func:`from_voc`: with ``problems``,
    every bad object of every file is appended there (and left out) instead of
    raising."""
    r = Path(root)
    ann_dir = r / "Annotations"
    if not ann_dir.is_dir():
        raise FormatError(f"{str(r)!r}: no Annotations/ folder; give the VOC root folder")
    xml_files = sorted(ann_dir.glob("*.xml"))
    split_of = _splits(r / "ImageSets" / "Main", {f.stem for f in xml_files})
    images: list[ImageRecord] = []
    regions: dict[int, list[Region]] = {}
    found: list[Problem] = []
    for n, f in enumerate(xml_files, start=1):
        try:
            im, regs = from_voc(f.read_bytes(), where=f.name, image_id=n,
                                box_policy=box_policy, problems=found, notes=notes,
                                degenerate=degenerate, attribute_types=attribute_types)
        except FormatError as e:
            if problems is None:
                raise FormatError(f"{str(f)!r}: {e}") from None
            found.append(Problem(f"annotation file {f.name!r}", "(document)", str(e)))
            continue
        img_path = r / "JPEGImages" / im.file_name
        uri = str(img_path.resolve()) if img_path.exists() else None
        images.append(ImageRecord(n, im.file_name, im.width, im.height, uri=uri,
                                  split=split_of.get(f.stem)))
        regions[n] = regs
    if (r / "labels.txt").is_file():
        cats = [x.strip() for x in (r / "labels.txt").read_text(encoding="utf-8").splitlines()
                if x.strip()]
    elif categories is not None:
        cats = list(categories)
    else:
        cats = list(dict.fromkeys(reg.label for regs in regions.values() for reg in regs))
    listed = set(cats)
    for im in images:
        for reg in regions[im.id]:
            if reg.label not in listed:
                found.append(Problem(f"image {im.file_name!r}", "name", f"the object is "
                                     f"labeled {reg.label!r}, which labels.txt does not list; "
                                     "add it to labels.txt"))
    if found:
        if problems is None:
            raise FormatProblems(repr(str(r)), found)
        problems.extend(found)
        for im in images:
            regions[im.id] = [reg for reg in regions[im.id] if reg.label in listed]
    return Dataset(images, regions, cats)


def check_sizes(dataset: Dataset) -> list[str]:
    """Images whose file size (EXIF-oriented) differs from the ``<size>`` in their XML."""
    out = []
    for im in dataset.images:
        if im.uri is not None:
            w, h = image_size(im.uri)
            if (w, h) != (im.width, im.height):
                out.append(f"{im.file_name!r}: XML says {im.width}x{im.height}, the file is "
                           f"{w}x{h}")
    return out


__all__ = ["AttributeTypes", "attribute_value", "box_from_voc", "box_to_voc", "check_sizes",
           "from_voc", "kept_attributes", "load_voc", "save_voc", "to_voc"]
