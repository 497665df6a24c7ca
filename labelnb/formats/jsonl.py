"""JSON Lines: one item a line, the simplest way to bring labels in.

``to_jsonl`` / ``from_jsonl`` convert between :class:`JsonlRecord` s and the text of a
``.jsonl`` file; ``save_jsonl`` / ``load_jsonl`` write and read files. The importer
(``import_dataset(project, "jsonl", path)``) adds each line as an item with its labels.

The schema, one JSON object a line (blank lines are skipped):

* A text with spans (``spans`` projects). ``start``/``end`` are Python ``str``
  indices (code points), end exclusive, as spaCy and Prodigy count::

    {"text": "Anna flew to Paris", "spans": [{"start": 0, "end": 4, "label": "PER"}]}

* A text with its class (``choice``) or classes (``multi_choice``)::

    {"text": "great film", "label": "pos"}
    {"text": "great film", "labels": ["pos", "funny"]}

* An image - a path (relative to the file's folder, or to ``images=``) or a URI -
  with boxes (corners ``x0, y0, x1, y1`` in pixels, or COCO's ``bbox: [x, y, w,
  h]``), polygons (flat ``points`` in pixels), masks (COCO RLE) or a class::

    {"image": "photos/1.jpg", "boxes": [{"x0": 10, "y0": 20, "x1": 110, "y1": 70,
                                         "label": "car"}]}
    {"image": "photos/2.jpg", "polygons": [{"points": [1, 1, 9, 1, 5, 8], "label": "roof"}]}
    {"image": "photos/3.jpg", "masks": [{"rle": {"size": [48, 64], "counts": "..."},
                                         "label": "cat"}]}
    {"image": "photos/4.jpg", "label": "indoor"}

* Or any item with ``regions``: labelnb's own JSON of each region
  (:meth:`~labelnb.types.Region.to_json`, with its ``"type"``), which is what
  :func:`to_jsonl` writes.

Optional on a line: ``width`` and ``height`` (the image size after EXIF orientation;
read from the file when missing), ``meta`` (an object kept with the item), ``group``
(the item's group, which splits keep together). Optional on a region: ``score`` (a
model's confidence in [0, 1]) and ``attributes``. Unknown keys are problems, not
ignored: a typo such as ``"span"`` would otherwise drop labels silently.

>>> text = to_jsonl([JsonlRecord(text="Anna flew to Paris 🇫🇷",
...                              regions=(Span(0, 4, "PER"), Span(13, 18, "LOC")))])
>>> text.startswith('{"text":"Anna flew to Paris 🇫🇷","regions":[{"type":"span"')
True
>>> from_jsonl(text)[0].regions
(Span(start=0, end=4, label='PER', score=None, attributes={}), Span(start=13, end=18, \
label='LOC', score=None, attributes={}))
>>> from_jsonl('{"text": "to label"}')[0].regions is None  # an item without labels
True
>>> rec = from_jsonl('{"text": "Anna flew to Paris", "spans": [{"start": 0, "end": 4, '
...                  '"label": "PER"}]}')[0]
>>> rec.line, rec.regions
(1, (Span(start=0, end=4, label='PER', score=None, attributes={}),))
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from labelnb.errors import FormatError, LabelnbError
from labelnb.formats._common import FormatProblems, Problem, text_name
from labelnb.types import Box, Choice, Mask, Polygon, Region, Span

#: the keys a line may hold
LINE_KEYS = ("text", "image", "width", "height", "meta", "group", "regions", "spans", "boxes",
             "polygons", "masks", "label", "labels")
_REGION_LISTS = {"spans": Span, "boxes": Box, "polygons": Polygon, "masks": Mask}
_REGION_KEYS = {
    "spans": ("start", "end", "label", "score", "attributes"),
    "boxes": ("x0", "y0", "x1", "y1", "bbox", "label", "score", "attributes"),
    "polygons": ("points", "label", "score", "attributes"),
    "masks": ("rle", "label", "score", "attributes"),
}


@dataclass(frozen=True, slots=True)
class JsonlRecord:
    """One line: a ``text`` or an ``image`` (path or URI), its regions, and the rest.

    ``regions`` is ``None`` for a line without labels (an item to label: no label key
    at all), and ``()`` for a line labeled as holding nothing (e.g. ``"spans": []``).
    ``line`` is the line number in the file (from 1; 0 for a record built in code)."""

    text: str | None = None
    image: str | None = None
    regions: tuple[Region, ...] | None = None
    width: int | None = None
    height: int | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False)
    group: str | None = None
    line: int = 0

    @property
    def name(self) -> str:
        """How problems call this record: ``image 'a.jpg'`` or ``text 'Anna …'``."""
        if self.image is not None:
            return f"image {self.image!r}"
        return text_name(self.text or "")


def to_jsonl_line(record: JsonlRecord) -> dict[str, Any]:
    """The JSON object of one record (regions in labelnb's own JSON)."""
    if (record.text is None) == (record.image is None):
        raise FormatError(f"JSONL record (line {record.line}): give exactly one of 'text' and "
                          "'image'")
    out: dict[str, Any] = ({"text": record.text} if record.text is not None
                           else {"image": record.image})
    if record.width is not None and record.height is not None:
        out.update(width=record.width, height=record.height)
    if record.regions is not None:
        out["regions"] = [r.to_json() for r in record.regions]
    if record.meta:
        out["meta"] = dict(record.meta)
    if record.group is not None:
        out["group"] = record.group
    return out


#: characters that JSON may hold raw but that line readers (Python's ``splitlines``,
#: editors) take for line ends: written escaped, so each object stays on its line
_LINE_BREAKING = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029",
                                "\u0085": "\\u0085"})


def to_jsonl(records: Iterable[JsonlRecord]) -> str:
    """The text of a ``.jsonl`` file: one object a line, each ending in a newline
    (U+2028, U+2029 and U+0085 escaped: they may only occur inside JSON strings)."""
    return "".join(orjson.dumps(to_jsonl_line(r), option=orjson.OPT_SERIALIZE_NUMPY)
                   .decode("utf-8").translate(_LINE_BREAKING) + "\n" for r in records)


def _region(kind: str, data: Any, text: str | None) -> Region:
    if not isinstance(data, Mapping):
        raise FormatError(f"{data!r:.80} is not an object; give e.g. "
                          + ('{"start": 0, "end": 4, "label": "PER"}' if kind == "spans" else
                             '{"x0": 1, "y0": 2, "x1": 30, "y1": 40, "label": "car"}'
                             if kind == "boxes" else '{"points": [...], "label": "roof"}'
                             if kind == "polygons" else '{"rle": {...}, "label": "cat"}'))
    unknown = sorted(set(data) - set(_REGION_KEYS[kind]))
    if unknown:
        raise FormatError(f"unknown keys {unknown}; a {kind[:-1]} has "
                          f"{list(_REGION_KEYS[kind])}")
    if "label" not in data:
        raise FormatError("the 'label' is missing; name the class")
    kw: dict[str, Any] = {"score": data.get("score"), "attributes": data.get("attributes")}
    label = data["label"]
    if kind == "spans":
        missing = [k for k in ("start", "end") if k not in data]
        if missing:
            raise FormatError(f"{missing} missing; a span is {{start, end, label}} in code "
                              "points, end exclusive")
        span = Span(data["start"], data["end"], label, **kw)
        if text is not None:
            span.validate_against(text)
        return span
    if kind == "boxes":
        if "bbox" in data:
            bbox = data["bbox"]
            if any(k in data for k in ("x0", "y0", "x1", "y1")):
                raise FormatError("both 'bbox' and corners given; give one")
            if not isinstance(bbox, Sequence) or isinstance(bbox, str) or len(bbox) != 4:
                raise FormatError(f"'bbox' {bbox!r} is not [x, y, width, height]")
            x, y, w, h = (float(v) for v in bbox)
            if w < 0 or h < 0:
                raise FormatError(f"'bbox' {list(bbox)} has a negative size; it is [x, y, "
                                  "width, height]")
            return Box.from_xywh(x, y, w, h, label, **kw)
        missing = [k for k in ("x0", "y0", "x1", "y1") if k not in data]
        if missing:
            raise FormatError(f"{missing} missing; a box is {{x0, y0, x1, y1, label}} in "
                              "pixels (or {bbox: [x, y, w, h], label})")
        return Box(data["x0"], data["y0"], data["x1"], data["y1"], label, **kw)
    if kind == "polygons":
        pts = data.get("points")
        if not isinstance(pts, Sequence) or isinstance(pts, str):
            raise FormatError(f"'points' {pts!r:.60} is not a flat list x1, y1, x2, y2, ...")
        flat = [v for p in pts for v in p] if pts and isinstance(pts[0], Sequence) else pts
        return Polygon(tuple(flat), label, **kw)
    if "rle" not in data:
        raise FormatError("'rle' is missing; give COCO RLE {size: [h, w], counts: ...}")
    return Mask(data["rle"], label, **kw)


def from_jsonl_line(obj: Any, *, line: int = 0, problems: list[Problem] | None = None
                    ) -> JsonlRecord | None:
    """One record from the JSON object of a line (``None`` if it has problems and
    ``problems`` collects them; without ``problems`` they raise)."""
    found: list[Problem] = []
    where = f"line {line}"

    def bad(item: str, fld: str, msg: str) -> None:
        found.append(Problem(item, fld, msg, where))

    if not isinstance(obj, Mapping):
        bad(f"line {line}", "(line)", f"{obj!r:.60} is not a JSON object; give one object a "
            "line")
        return _done(found, problems, None)
    text, image = obj.get("text"), obj.get("image")
    item = (f"image {image!r}" if isinstance(image, str) else text_name(text)
            if isinstance(text, str) else f"line {line}")
    unknown = sorted(set(obj) - set(LINE_KEYS))
    if unknown:
        bad(item, unknown[0], f"unknown keys {unknown}; a line may hold {list(LINE_KEYS)}")
    if (text is None) == (image is None):
        bad(item, "text" if text is None else "image",
            "give exactly one of 'text' (a string) and 'image' (a path or URI)")
        return _done(found, problems, None)
    if text is not None and not isinstance(text, str):
        bad(item, "text", f"{text!r:.40} is not a string")
    if image is not None and (not isinstance(image, str) or not image):
        bad(item, "image", f"{image!r:.40} is not a path or URI")
    size: list[int | None] = []
    for k in ("width", "height"):
        v = obj.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            bad(item, k, f"{v!r} is not a positive number of pixels")
            v = None
        size.append(v)
    if (size[0] is None) != (size[1] is None) and not any(
            p.field in ("width", "height") for p in found):
        bad(item, "width" if size[0] is None else "height",
            "give both 'width' and 'height', or neither (they are read from the file)")
    meta = obj.get("meta", {})
    if not isinstance(meta, Mapping):
        bad(item, "meta", f"{meta!r:.40} is not an object")
        meta = {}
    group = obj.get("group")
    if group is not None and not isinstance(group, str | int):
        bad(item, "group", f"{group!r:.40} is not a string")
    regions: list[Region] = []
    labeled = any(k in obj for k in ("regions", "label", "labels", *_REGION_LISTS))
    txt = text if isinstance(text, str) else None
    for key in ("regions", *_REGION_LISTS):
        entries = obj.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            bad(item, key, f"{entries!r:.40} is not a list")
            continue
        for n, e in enumerate(entries):
            try:
                if key == "regions":
                    r = Region.from_json(e)
                    if isinstance(r, Span) and txt is not None:
                        r.validate_against(txt)
                else:
                    r = _region(key, e, txt)
            except (LabelnbError, TypeError, ValueError) as err:
                bad(item, f"{key}[{n}]", str(err))
                continue
            regions.append(r)
    if "label" in obj and "labels" in obj:
        bad(item, "label", "give 'label' (one class) or 'labels' (several), not both")
    for key in ("label", "labels"):
        if key not in obj:
            continue
        names = [obj[key]] if key == "label" else obj[key]
        if not isinstance(names, list) or not all(isinstance(x, str) and x for x in names):
            bad(item, key, f"{obj[key]!r:.60} is not " + (
                "a class name" if key == "label" else "a list of class names"))
            continue
        regions.extend(Choice(x) for x in names)
    if found:
        return _done(found, problems, None)
    return JsonlRecord(text=txt, image=image if isinstance(image, str) else None,
                       regions=tuple(regions) if labeled else None, width=size[0],
                       height=size[1],
                       meta=dict(meta), group=None if group is None else str(group), line=line)


def _done(found: list[Problem], problems: list[Problem] | None,
          value: JsonlRecord | None) -> JsonlRecord | None:
    if found:
        if problems is None:
            raise FormatProblems("JSONL", found)
        problems.extend(found)
    return value


def from_jsonl(text: str, *, problems: list[Problem] | None = None) -> list[JsonlRecord]:
    """The records of a ``.jsonl`` text. A bad line raises
    :class:`~labelnb.formats._common.FormatProblems` listing every problem of every
    line, or, with ``problems`` (a list), is appended there and left out."""
    found: list[Problem] = []
    out: list[JsonlRecord] = []
    # lines end at "\n" only (a "\r" before it is JSON whitespace): splitlines() would
    # also cut at U+2028, U+2029, U+0085 and others, which JSON strings may hold raw
    for n, raw in enumerate(text.lstrip("\ufeff").split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            found.append(Problem(f"line {n}", "(line)", f"not valid JSON ({e}); give one JSON "
                                 "object a line"))
            continue
        rec = from_jsonl_line(obj, line=n, problems=found)
        if rec is not None:
            out.append(rec)
    if found:
        if problems is None:
            raise FormatProblems("JSONL", found)
        problems.extend(found)
    return out


def save_jsonl(records: Iterable[JsonlRecord], path: str | os.PathLike[str]) -> Path:
    """Write the records to ``path`` (UTF-8)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(to_jsonl(records), encoding="utf-8")
    return p


def load_jsonl(path: str | os.PathLike[str], *, problems: list[Problem] | None = None
               ) -> list[JsonlRecord]:
    """Read a ``.jsonl`` file (see :func:`from_jsonl`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FormatError(f"{str(p)!r}: the JSONL file does not exist; fix the path") from None
    except UnicodeDecodeError as e:
        raise FormatError(f"{str(p)!r}: not UTF-8 text ({e}); save it as UTF-8") from None
    found: list[Problem] = []
    recs = from_jsonl(text, problems=found)
    if found:
        if problems is None:
            raise FormatProblems(repr(str(p)), found)
        problems.extend(found)
    return recs


__all__ = ["JsonlRecord", "LINE_KEYS", "from_jsonl", "from_jsonl_line", "load_jsonl",
           "save_jsonl", "to_jsonl", "to_jsonl_line"]
