"""Label Studio's JSON export (the "JSON" export: a list of tasks), the most common
source a team migrates from.

``from_label_studio`` / ``to_label_studio`` convert between the export's task dicts
and :class:`LSTask` s; ``load_label_studio`` / ``save_label_studio`` read and write
files. The importer (``import_dataset(project, "label_studio", path)``) adds each
task's image or text as an item, its ``annotations`` as annotations and its
``predictions`` as predictions.

A task is ``{"id", "data": {"image": ...} or {"text": ...}, "annotations": [...],
"predictions": [...]}``; each annotation or prediction holds a ``result`` list, one
entry per region: ``{"type", "from_name", "to_name", "value", "original_width",
"original_height", "score"?}``. What is converted, and how:

* ``rectanglelabels``: ``value.x``, ``y``, ``width``, ``height`` are percent (0-100)
  of ``original_width`` / ``original_height``, the top-left corner and the size:
  ``x0 = x * W / 100``, ``x1 = (x + width) * W / 100`` (and the same for y with H;
  a value within 1e-9 of the image's edge is the edge).
  ``value.rotation`` must be 0: Label Studio rotates a box about its top-left
  corner, which an axis-aligned :class:`~labelnb.types.Box` cannot hold, so a rotated
  box is a problem, not silently straightened (export it as a polygon instead).
* ``polygonlabels``: ``value.points`` is ``[[x%, y%], ...]``, converted the same way
  into a flat :class:`~labelnb.types.Polygon`.
* ``labels`` (text spans): ``value.start`` / ``end`` count UTF-16 code units, what
  the browser's JavaScript strings count; labelnb counts code points (Python ``str``
  indices). They differ after any character outside the Basic Multilingual Plane
  (most emoji, some CJK): ``"😀 Paris"`` has Paris at UTF-16 ``[3, 8)`` and code
  points ``[2, 7)``. ``offsets="utf16"`` (the default) converts; ``"codepoints"`` takes
  them as they are (for exports written by tools that count code points). When the
  result carries ``value.text``, the converted span must slice that text from the
  task's text, runs of whitespace compared as one space (Label Studio stores the text
  with them collapsed), else it is a problem whose message suggests the other
  ``offsets`` only when that slices the text (``verify_text=False`` skips the check).
* ``choices``: one :class:`~labelnb.types.Choice` per chosen class.
* Several labels on one region give one region per label.
* ``brushlabels`` (Label Studio's own brush RLE, not COCO's), ``keypointlabels``,
  ``hypertextlabels`` (HTML offsets) and other controls are not converted: each is a
  problem naming the task and the type, unless its type is in ``ignore_types`` (then
  it is left out with a note). ``relation`` results are left out with a note. An
  annotation or prediction whose every result is left out so is left out too (with a
  note; an annotation counts as skipped), not imported as one with no regions, which
  would mark its item done with nothing on it.
* An annotation's ``completed_by`` (a user id, or an object with the user's email) is
  its author: the email, else ``label-studio:<id>``, or what ``authors`` maps it to.
  ``lead_time`` becomes ``duration_s``, ``created_at`` the annotation's time, and
  annotations with ``was_cancelled`` are left out (counted as ``skipped``). A
  prediction's ``model_version`` and ``score`` (and each result's ``score``) are
  kept.
* Boxes and polygons outside the image follow ``box_policy`` (see
  :func:`~labelnb.formats._common.fit_region`); percent coordinates that reach past
  0 or 100 by float rounding are moved onto the edge silently.

The media: ``data_key`` names the ``data`` field that holds the image or text; by
default ``image``, else ``text``, else the task's only string field. Images come as
Label Studio wrote them (``/data/upload/3/8f2a1c3b-cat.jpg``,
``/data/local-files/?d=photos/cat.jpg``, a URL); the importer finds the file.

>>> task = {"id": 7, "data": {"text": "😀 Paris"}, "annotations": [{"completed_by": 3,
...         "result": [{"type": "labels", "from_name": "ner", "to_name": "text",
...                     "value": {"start": 3, "end": 8, "text": "Paris",
...                               "labels": ["LOC"]}}]}]}
>>> t = from_label_studio([task])[0]
>>> t.labels[0].regions, t.labels[0].author
((Span(start=2, end=7, label='LOC', score=None, attributes={}),), 'label-studio:3')
>>> box = {"type": "rectanglelabels", "original_width": 200, "original_height": 100,
...        "value": {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0,
...                  "rectanglelabels": ["car"]}}
>>> from_label_studio([{"data": {"image": "a.jpg"}, "predictions": [
...     {"model_version": "yolo-1", "score": 0.9, "result": [box]}]}])[0].labels[0].regions
(Box(x0=20.0, y0=20.0, x1=80.0, y1=60.0, label='car', score=None, attributes={}),)
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import orjson

from labelnb.errors import FormatError, LabelnbError
from labelnb.formats._common import (
    BoxPolicy,
    FormatProblems,
    Problem,
    check_box_policy,
    fit_region,
    text_name,
)
from labelnb.types import Box, Choice, Polygon, Region, Span

Offsets = Literal["utf16", "codepoints"]
LabelKind = Literal["annotation", "prediction"]
#: the result types converted, and the region each becomes
TYPES: dict[str, str] = {"rectanglelabels": "box", "polygonlabels": "polygon",
                         "labels": "span", "choices": "choice"}
_UNSUPPORTED = {
    "brushlabels": "Label Studio's brush RLE is its own encoding, not COCO's; export the "
                   "masks from Label Studio as COCO (or PNG) and import that, or pass "
                   "ignore_types=['brushlabels']",
    "hypertextlabels": "HTML spans are XPath offsets, not text offsets; label the plain "
                       "text, or pass ignore_types=['hypertextlabels']",
    "keypointlabels": "labelnb has no keypoints; pass ignore_types=['keypointlabels']",
}
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


# --- offsets -----------------------------------------------------------------------------


def utf16_index(text: str) -> list[int]:
    """``index[i]``: the UTF-16 offset of code point ``i`` (``len(text) + 1`` entries)."""
    out = [0]
    n = 0
    for ch in text:
        n += 2 if ord(ch) > 0xFFFF else 1
        out.append(n)
    return out


def from_utf16(text: str, offset: int, *, index: Sequence[int] | None = None) -> int:
    """The code point index of a UTF-16 offset into ``text`` (:class:`FormatError` if
    it splits a surrogate pair or lies past the end).

    >>> from_utf16("😀 Paris", 3), "😀 Paris"[from_utf16("😀 Paris", 3):]
    (2, 'Paris')
    """
    idx = index if index is not None else utf16_index(text)
    if offset < 0 or offset > idx[-1]:
        raise FormatError(f"UTF-16 offset {offset} lies outside the text ({idx[-1]} UTF-16 "
                          "code units)")
    i = bisect.bisect_left(idx, offset)
    if idx[i] != offset:
        raise FormatError(f"UTF-16 offset {offset} falls inside the character "
                          f"{text[i - 1]!r} (a surrogate pair); the offsets do not fit this "
                          "text")
    return i


_WHITESPACE = re.compile(r"\s+")


def same_text(sliced: str, named: str) -> bool:
    """Whether a span's ``value.text`` names the text its offsets slice, runs of
    whitespace compared as one space: Label Studio stores the text as the browser shows
    it, with runs collapsed (``"Berlin,  Germany"`` stored as ``"Berlin, Germany"``;
    HumanSignal/label-studio issue 3078), while the offsets count the task's text.

    >>> same_text("Berlin,  Germany", "Berlin, Germany"), same_text("a\\r\\nb", "a b")
    (True, True)
    >>> same_text("Berlin", "Berlin,"), same_text("ab", "a b")
    (False, False)
    """
    return sliced == named or _WHITESPACE.sub(" ", sliced) == _WHITESPACE.sub(" ", named)


def _text_mismatch(text: str, start: int, end: int, sliced: str, named: str,
                   offsets: Offsets) -> str:
    """The problem of a span whose offsets do not slice its ``value.text``: the other
    ``offsets`` mode is suggested only when it slices that text."""
    other: Offsets = "codepoints" if offsets == "utf16" else "utf16"
    try:
        a, b = ((from_utf16(text, start), from_utf16(text, end)) if other == "utf16"
                else (start, end))
        fits = 0 <= a <= b <= len(text) and same_text(text[a:b], named)
    except FormatError:  # the offsets do not fit the text counted that way
        fits = False
    if fits:
        fix = (f"the export counts {other}: pass offsets={other!r} (verify_text=False "
               "skips this check)")
    else:
        fix = (f"offsets={other!r} does not slice it either: fix the span's start/end, or "
               "pass verify_text=False to skip this check")
    return (f"[{start}:{end}] ({offsets}) slices {sliced!r} from the task's text, not the "
            f"{named!r} the result names; {fix}")


def to_utf16(text: str, index: int) -> int:
    """The UTF-16 offset of code point ``index`` of ``text``.

    >>> to_utf16("😀 Paris", 2)
    3
    """
    if not 0 <= index <= len(text):
        raise FormatError(f"index {index} lies outside the text ({len(text)} code points)")
    return index + sum(1 for ch in text[:index] if ord(ch) > 0xFFFF)


# --- coordinates -------------------------------------------------------------------------


def box_to_ls(box: Box, width: int, height: int) -> dict[str, float]:
    """``{"x", "y", "width", "height", "rotation"}`` in percent of the image."""
    return {"x": box.x0 / width * 100.0, "y": box.y0 / height * 100.0,
            "width": (box.x1 - box.x0) / width * 100.0,
            "height": (box.y1 - box.y0) / height * 100.0, "rotation": 0}


def box_from_ls(value: Mapping[str, Any], width: int, height: int, label: str,
                **kw: Any) -> Box:
    """The pixel box of a ``rectanglelabels`` value (percent; rotation must be 0)."""
    rot = float(value.get("rotation") or 0.0)
    if rot % 360.0 != 0.0:
        raise FormatError(f"the box is rotated by {rot:g} degrees; labelnb boxes are axis-"
                          "aligned: set rotation to 0 in Label Studio, or draw it as a "
                          "polygon")
    x, y, w, h = (float(value[k]) for k in ("x", "y", "width", "height"))
    if w < 0 or h < 0:
        raise FormatError(f"width {w:g}% / height {h:g}% is negative; fix the box")
    return Box(_px(x, width), _px(y, height), _px(x + w, width), _px(y + h, height), label,
               **kw)


def _px(percent: float, size: int) -> float:
    """Percent of ``size`` in pixels; within 1e-9 of an edge (0 or ``size``), the edge:
    ``(x + width) * W / 100`` is a float's width off where the box ends on the edge."""
    v = percent * size / 100.0
    eps = 1e-9 * size
    return 0.0 if abs(v) <= eps else float(size) if abs(v - size) <= eps else v


def polygon_to_ls(polygon: Polygon, width: int, height: int) -> list[list[float]]:
    """``[[x%, y%], ...]``."""
    return [[x / width * 100.0, y / height * 100.0] for x, y in polygon.xy.tolist()]


def polygon_from_ls(points: Any, width: int, height: int, label: str, **kw: Any) -> Polygon:
    """The pixel polygon of ``polygonlabels`` points (``[[x%, y%], ...]``)."""
    if not isinstance(points, Sequence) or not all(
            isinstance(p, Sequence) and len(p) == 2 for p in points):
        raise FormatError(f"{points!r:.60} is not a list of [x%, y%] points")
    flat = [_px(float(v), width if i % 2 == 0 else height) for p in points
            for i, v in enumerate(p)]
    return Polygon(tuple(flat), label, **kw)


# --- tasks -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LSLabels:
    """One annotation or prediction of a task, converted."""

    kind: LabelKind
    regions: tuple[Region, ...]
    author: str | None = None  # an annotation's annotator
    model_version: str | None = None  # a prediction's model
    score: float | None = None  # a prediction's overall score
    created_at: str | None = None
    duration_s: float | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class LSTask:
    """One task: its media (``image`` as Label Studio wrote it, or ``text``), the image
    size the results were drawn on, and its annotations and predictions."""

    id: Any
    key: str
    image: str | None = None
    text: str | None = None
    width: int | None = None
    height: int | None = None
    labels: tuple[LSLabels, ...] = ()
    skipped: int = 0  # annotations left out: cancelled, or no result of them imported
    data: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def name(self) -> str:
        tid = f"task {self.id!r}" if self.id is not None else "task"
        if self.image is not None:
            return f"{tid} (image {self.image!r})"
        return f"{tid} ({text_name(self.text or '')})"


def _media_key(data: Mapping[str, Any], data_key: str | None) -> str | None:
    if data_key is not None:
        return data_key if data_key in data else None
    for k in ("image", "text"):
        if isinstance(data.get(k), str):
            return k
    strings = [k for k, v in data.items() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else None


def _author(completed_by: Any, authors: Mapping[Any, str] | None) -> str:
    key: Any = completed_by
    if isinstance(completed_by, Mapping):
        key = completed_by.get("email") or completed_by.get("id")
    if authors is not None:
        for k in (key, completed_by.get("id") if isinstance(completed_by, Mapping) else None):
            if k is not None and k in authors:
                return str(authors[k])
    if isinstance(key, str) and key:
        return key
    return f"label-studio:{key}" if key is not None else "label-studio"


def _score(v: Any, what: str) -> float | None:
    if v is None:
        return None
    s = float(v)
    if not 0.0 <= s <= 1.0:
        raise FormatError(f"{what} {v!r} lies outside [0, 1]; labelnb scores are "
                          "probabilities: rescale them")
    return s


def from_label_studio(tasks: Iterable[Mapping[str, Any]] | Mapping[str, Any], *,
                      offsets: Offsets = "utf16", box_policy: BoxPolicy = "reject",
                      verify_text: bool = True, data_key: str | None = None,
                      authors: Mapping[Any, str] | None = None,
                      ignore_types: Collection[str] = (),
                      image_size: Callable[[str], tuple[int, int]] | None = None,
                      problems: list[Problem] | None = None, notes: list[str] | None = None
                      ) -> list[LSTask]:
    """:class:`LSTask` s from Label Studio's JSON export (a list of tasks, or one).

    ``image_size(image)`` gives ``(width, height)`` for results without
    ``original_width`` / ``original_height``. Every problem is collected: they raise
    :class:`~labelnb.formats._common.FormatProblems` together, or, with ``problems``
    (a list), are appended there and the task is left out. See the module docstring
    for the rest."""
    if offsets not in ("utf16", "codepoints"):
        raise FormatError(f"offsets={offsets!r}; expected 'utf16' (what Label Studio's "
                          "browser counts) or 'codepoints'")
    check_box_policy(box_policy)
    task_list = [tasks] if isinstance(tasks, Mapping) else list(tasks)
    found: list[Problem] = []
    out: list[LSTask] = []
    for n, task in enumerate(task_list):
        t = _task(task, n, offsets=offsets, box_policy=box_policy, verify_text=verify_text,
                  data_key=data_key, authors=authors, ignore_types=ignore_types,
                  image_size=image_size, found=found, notes=notes)
        if t is not None:
            out.append(t)
    if found:
        if problems is None:
            raise FormatProblems("Label Studio export", found)
        problems.extend(found)
    return out


def _task(task: Any, n: int, *, offsets: Offsets, box_policy: BoxPolicy, verify_text: bool,
          data_key: str | None, authors: Mapping[Any, str] | None,
          ignore_types: Collection[str], image_size: Callable[[str], tuple[int, int]] | None,
          found: list[Problem], notes: list[str] | None) -> LSTask | None:
    before = len(found)
    if not isinstance(task, Mapping):
        found.append(Problem(f"tasks[{n}]", "(task)", f"{task!r:.60} is not a task object"))
        return None
    tid = task.get("id")
    data = task.get("data")
    name = f"task {tid!r}" if tid is not None else f"tasks[{n}]"
    if not isinstance(data, Mapping):
        found.append(Problem(name, "data", "the task has no 'data' object; export the project "
                             "as Label Studio's JSON (not JSON-MIN or CSV)"))
        return None
    key = _media_key(data, data_key)
    if key is None:
        found.append(Problem(name, "data", f"cannot tell which field of {sorted(data)} holds "
                             "the image or text; pass data_key='...' (the $name of the "
                             "labeling config's Image or Text tag)"))
        return None
    media = data[key]
    if not isinstance(media, str) or not media:
        found.append(Problem(name, f"data.{key}", f"{media!r:.60} is not a path, URL or text"))
        return None
    is_image = key != "text" and (key == "image" or _looks_like_image(media))
    text = None if is_image else media
    item = f"{name} (image {media!r})" if is_image else f"{name} ({text_name(media)})"
    sizes: set[tuple[int, int]] = set()
    u16: list[int] | None = None
    labels: list[LSLabels] = []
    skipped = 0
    for kind, key_list in (("annotation", "annotations"), ("prediction", "predictions")):
        entries = task.get(key_list) or []
        if kind == "annotation" and not entries and task.get("completions"):
            entries = task["completions"]  # exports before Label Studio 1.0
        if not isinstance(entries, list):
            found.append(Problem(item, key_list, "must be a list"))
            continue
        for m, entry in enumerate(entries):
            where = f"{key_list}[{m}]"
            if not isinstance(entry, Mapping):
                found.append(Problem(item, key_list, f"{entry!r:.60} is not an object", where))
                continue
            if kind == "annotation" and entry.get("was_cancelled"):
                skipped += 1
                continue
            regions: list[Region] = []
            results = entry.get("result") or []
            if not isinstance(results, list):
                found.append(Problem(item, "result", "must be a list of results", where))
                continue
            left_out: list[str] = []  # the types of results left out (ignored, relations)
            for k, res in enumerate(results):
                rw = f"{where}.result[{k}]"
                if not isinstance(res, Mapping):
                    found.append(Problem(item, "result", f"{res!r:.60} is not an object", rw))
                    continue
                rtype = str(res.get("type", ""))
                if rtype == "relation":
                    left_out.append(rtype)
                    if notes is not None:
                        notes.append(f"{item}, {rw}: a relation ({res.get('from_id')} -> "
                                     f"{res.get('to_id')}) is not imported")
                    continue
                if rtype in ignore_types:
                    left_out.append(rtype)
                    if notes is not None:
                        notes.append(f"{item}, {rw}: a {rtype!r} result is left out "
                                     "(ignore_types)")
                    continue
                if rtype not in TYPES:
                    why = _UNSUPPORTED.get(rtype, f"labelnb imports {sorted(TYPES)}; pass "
                                                  f"ignore_types=[{rtype!r}] to leave these "
                                                  "out")
                    found.append(Problem(item, "type", f"{rtype!r} results are not supported: "
                                         f"{why}", rw))
                    continue
                value = res.get("value")
                if not isinstance(value, Mapping):
                    found.append(Problem(item, "value", "the result has no 'value' object", rw))
                    continue
                names = value.get(rtype)
                if (not isinstance(names, list) or not names
                        or not all(isinstance(x, str) and x for x in names)):
                    found.append(Problem(item, f"value.{rtype}", f"{names!r:.60} is not a list "
                                         "of label names", rw))
                    continue
                fld = "score"
                try:
                    score = _score(res.get("score"), "the result's score")
                    kw: dict[str, Any] = {"score": score}
                    if TYPES[rtype] == "choice":
                        fld = "value.choices"
                        regions.extend(Choice(x, **kw) for x in names)
                        continue
                    if TYPES[rtype] == "span":
                        fld = "value.start/end"
                        if text is None:
                            raise FormatError("text spans on an image task; check data_key")
                        s, e = value.get("start"), value.get("end")
                        if (isinstance(s, bool) or isinstance(e, bool)
                                or not isinstance(s, int) or not isinstance(e, int)):
                            raise FormatError(f"start {s!r} / end {e!r} are not text offsets "
                                              "(integers)")
                        if offsets == "utf16":
                            if u16 is None:
                                u16 = utf16_index(text)
                            s, e = from_utf16(text, s, index=u16), from_utf16(text, e, index=u16)
                        spans = [Span(s, e, x, **kw).validate_against(text) for x in names]
                        want = value.get("text")
                        if (verify_text and isinstance(want, str)
                                and not same_text(text[s:e], want)):
                            fld = "value.text"
                            raise FormatError(_text_mismatch(text, value["start"], value["end"],
                                                             text[s:e], want, offsets))
                        regions.extend(spans)
                        continue
                    # an image region
                    fld = "type"
                    if text is not None:
                        raise FormatError(f"a {rtype} result on a text task; check data_key")
                    fld = "image_rotation"
                    if float(res.get("image_rotation") or 0.0) % 360.0 != 0.0:
                        raise FormatError(f"the image was rotated by {res['image_rotation']} "
                                          "degrees in Label Studio; the coordinates are of "
                                          "the rotated view: rotate the image file itself and "
                                          "label it again")
                    fld = "original_width/original_height"
                    size = _size(res, media, image_size)
                    sizes.add(size)
                    fld = "value.rotation"
                    rot = float(value.get("rotation") or 0.0)
                    if TYPES[rtype] == "box" and rot % 360.0 != 0.0:
                        raise FormatError(f"the box is rotated by {rot:g} degrees; labelnb "
                                          "boxes are axis-aligned: set rotation to 0 in Label "
                                          "Studio, or draw the region as a polygon")
                    fld = "value" if TYPES[rtype] == "box" else "value.points"
                    for x in names:
                        region: Region = (box_from_ls(value, size[0], size[1], x, **kw)
                                          if TYPES[rtype] == "box" else
                                          polygon_from_ls(value.get("points"), size[0],
                                                          size[1], x, **kw))
                        tol = 1e-9 * max(size) + 1e-9
                        region, note = fit_region(region, size[0], size[1], box_policy,
                                                  tol=tol)
                        if note is not None and notes is not None:
                            notes.append(f"{item}, {rw}: {note}")
                        regions.append(region)
                except (LabelnbError, TypeError, ValueError, KeyError) as err:
                    msg = (f"{err.args[0]!r} is missing from the value" if
                           isinstance(err, KeyError) else str(err))
                    found.append(Problem(item, fld, msg, rw))
            if results and len(left_out) == len(results):
                # nothing of it is imported: stored with no regions it would say "nothing
                # here" and mark the item done, so it is left out as a cancelled one is
                if kind == "annotation":
                    skipped += 1
                if notes is not None:
                    notes.append(f"{item}, {where}: every result of this {kind} is of a type "
                                 f"left out ({', '.join(sorted(set(left_out)))}); the {kind} "
                                 "is left out too, not imported as one with no regions")
                continue
            fld = "lead_time" if kind == "annotation" else "score"
            try:
                if kind == "annotation":
                    labels.append(LSLabels(
                        "annotation", tuple(regions),
                        author=_author(entry.get("completed_by"), authors),
                        created_at=entry.get("created_at"),
                        duration_s=(float(entry["lead_time"]) if entry.get("lead_time")
                                    is not None else None),
                        meta={"label_studio": {k: entry[k] for k in (
                            "id", "completed_by", "ground_truth", "updated_at")
                            if entry.get(k) is not None}}))
                else:
                    mv = entry.get("model_version")
                    labels.append(LSLabels(
                        "prediction", tuple(regions),
                        model_version=str(mv) if mv not in (None, "") else None,
                        score=_score(entry.get("score"), "the prediction's score"),
                        created_at=entry.get("created_at"),
                        meta={"label_studio": {k: entry[k] for k in ("id",)
                                               if entry.get(k) is not None}}))
            except (LabelnbError, TypeError, ValueError) as err:
                found.append(Problem(item, fld, str(err), where))
    if len(sizes) > 1:
        found.append(Problem(item, "original_width", f"the results were drawn on different "
                             f"image sizes {sorted(sizes)}; re-export the task"))
    if len(found) > before:
        return None
    w, h = next(iter(sizes)) if sizes else (None, None)
    return LSTask(tid, key, image=media if is_image else None, text=text, width=w, height=h,
                  labels=tuple(labels), skipped=skipped,
                  data={k: v for k, v in data.items() if k != key})


def _looks_like_image(s: str) -> bool:
    low = s.split("?", 1)[0].lower()
    return "\n" not in s and low.endswith((".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp",
                                           ".tif", ".tiff"))


def _size(res: Mapping[str, Any], media: str,
          image_size: Callable[[str], tuple[int, int]] | None) -> tuple[int, int]:
    w, h = res.get("original_width"), res.get("original_height")
    if w is None or h is None:
        if image_size is None:
            raise FormatError("original_width / original_height are missing, so the "
                              "percent coordinates cannot be converted; re-export from Label "
                              "Studio, or import with the image on disk")
        return image_size(media)
    try:
        wi, hi = int(w), int(h)
    except (TypeError, ValueError):
        raise FormatError(f"original_width {w!r} / original_height {h!r} are not pixel "
                          "sizes") from None
    if wi <= 0 or hi <= 0 or wi != w or hi != h:
        raise FormatError(f"original_width {w!r} / original_height {h!r} are not positive "
                          "whole pixel sizes")
    return wi, hi


def local_path(image: str, *, root: str | os.PathLike[str] | None = None,
               images: str | os.PathLike[str] | None = None) -> Path | None:
    """The file on disk for an image reference in a Label Studio task, or ``None``.

    Tried in order: the reference as a path (relative to ``root``, the export's
    folder); for ``/data/local-files/?d=<path>``, that path under ``images`` and
    ``root``; for an upload, ``/data/upload/3/8f2a1c3b-cat.jpg``, the path after
    ``/data/upload/`` (``3/8f2a1c3b-cat.jpg``: ``images`` is Label Studio's
    ``media/upload`` folder) and after ``/data/`` (``images`` is ``media``) under
    ``images`` and ``root``, URL-decoded; then, under ``images`` and ``root``, the
    base name, and the base name without the ``8f2a1c3b-`` prefix Label Studio gives
    uploads.

    >>> import tempfile
    >>> media = Path(tempfile.mkdtemp()) / "media"
    >>> (media / "upload" / "3").mkdir(parents=True)
    >>> _ = (media / "upload" / "3" / "8f2a1c3b-my cat.jpg").write_bytes(b"")
    >>> ref = "/data/upload/3/8f2a1c3b-my%20cat.jpg"
    >>> local_path(ref, images=media / "upload").relative_to(media).as_posix()
    'upload/3/8f2a1c3b-my cat.jpg'
    >>> local_path(ref, images=media) == local_path(ref, images=media / "upload" / "3")
    True
    """
    from urllib.parse import parse_qs, unquote, urlparse

    folders = [Path(p) for p in (images, root) if p is not None]
    cands: list[Path] = []
    parsed = urlparse(image)
    if parsed.scheme in ("", "file") and not image.startswith("/data/"):
        p = Path(unquote(parsed.path) if parsed.scheme == "file" else image).expanduser()
        cands.extend([p] if p.is_absolute() else [f / p for f in folders] or [p])
    d = parse_qs(parsed.query).get("d")
    if d:
        rel = Path(unquote(d[0]))
        cands.extend([rel] if rel.is_absolute() else [f / rel for f in folders])
    served = unquote(parsed.path)
    if parsed.scheme in ("", "http", "https") and served.startswith("/data/"):
        # Label Studio serves <media>/<rest> at /data/<rest> (uploads: /data/upload/...)
        rests = [served[len("/data/"):]]
        if rests[0].startswith("upload/"):
            rests.insert(0, rests[0][len("upload/"):])
        for rest in rests:
            sub = PurePosixPath(rest)
            if rest and ".." not in sub.parts and not sub.is_absolute():
                cands.extend(f / sub for f in folders)
    base = Path(served).name
    if base:
        for f in folders:
            cands.append(f / base)
            if _UPLOAD_PREFIX.match(base):
                cands.append(f / _UPLOAD_PREFIX.sub("", base))
    return next((c for c in cands if c.is_file()), None)


# --- writing -----------------------------------------------------------------------------


def _result(region: Region, task: LSTask, n: int) -> dict[str, Any]:
    base: dict[str, Any] = {"id": f"r{n}"}
    if isinstance(region, Span):
        if task.text is None:
            raise FormatError(f"{task.name}: a span needs a text task")
        s, e = to_utf16(task.text, region.start), to_utf16(task.text, region.end)
        base.update(type="labels", from_name="label", to_name="text",
                    value={"start": s, "end": e, "text": task.text[region.start:region.end],
                           "labels": [region.label]})
    elif isinstance(region, Choice):
        base.update(type="choices", from_name="choice", to_name=task.key,
                    value={"choices": [region.label]})
    elif isinstance(region, Box | Polygon):
        if task.width is None or task.height is None:
            raise FormatError(f"{task.name}: give the image's width and height")
        base.update(from_name="label", to_name="image", original_width=task.width,
                    original_height=task.height, image_rotation=0)
        if isinstance(region, Box):
            base.update(type="rectanglelabels",
                        value={**box_to_ls(region, task.width, task.height),
                               "rectanglelabels": [region.label]})
        else:
            base.update(type="polygonlabels",
                        value={"points": polygon_to_ls(region, task.width, task.height),
                               "polygonlabels": [region.label]})
    else:
        raise FormatError(f"{task.name}: Label Studio import is written for boxes, polygons, "
                          f"spans and choices, not {type(region).__name__}")
    if region.score is not None:
        base["score"] = region.score
    return base


def to_label_studio(tasks: Iterable[LSTask]) -> list[dict[str, Any]]:
    """Label Studio tasks (what its JSON import and export hold) for these
    :class:`LSTask` s: percent coordinates, UTF-16 offsets. An annotation's author is
    written as ``completed_by``."""
    out: list[dict[str, Any]] = []
    for t in tasks:
        media = t.image if t.image is not None else t.text
        task: dict[str, Any] = {"data": {t.key: media, **t.data}, "annotations": [],
                                "predictions": []}
        if t.id is not None:
            task["id"] = t.id
        for lab in t.labels:
            results = [_result(r, t, n) for n, r in enumerate(lab.regions)]
            if lab.kind == "annotation":
                entry: dict[str, Any] = {"completed_by": lab.author, "result": results,
                                         "was_cancelled": False}
                if lab.duration_s is not None:
                    entry["lead_time"] = lab.duration_s
                if lab.created_at is not None:
                    entry["created_at"] = lab.created_at
                task["annotations"].append(entry)
            else:
                entry = {"model_version": lab.model_version, "result": results}
                if lab.score is not None:
                    entry["score"] = lab.score
                task["predictions"].append(entry)
        out.append(task)
    return out


def save_label_studio(tasks: Iterable[LSTask], path: str | os.PathLike[str]) -> Path:
    """Write the tasks as one JSON file (a list)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(orjson.dumps(to_label_studio(tasks), option=orjson.OPT_INDENT_2))
    return p


def load_label_studio(path: str | os.PathLike[str], **kw: Any) -> list[LSTask]:
    """Read an export file (JSON: a list of tasks, or one task); ``kw`` as in
    :func:`from_label_studio` (problems name the file)."""
    p = Path(path)
    try:
        data = orjson.loads(p.read_bytes())
    except FileNotFoundError:
        raise FormatError(f"{str(p)!r}: the Label Studio export does not exist; fix the "
                          "path") from None
    except orjson.JSONDecodeError as e:
        raise FormatError(f"{str(p)!r}: not valid JSON ({e}); give Label Studio's JSON "
                          "export") from None
    if not isinstance(data, list | dict):
        raise FormatError(f"{str(p)!r}: expected a list of tasks")
    problems = kw.pop("problems", None)
    found: list[Problem] = []
    tasks = from_label_studio(data, problems=found, **kw)
    if found:
        if problems is None:
            raise FormatProblems(repr(str(p)), found)
        problems.extend(found)
    return tasks


__all__ = ["LSLabels", "LSTask", "Offsets", "TYPES", "box_from_ls", "box_to_ls",
           "from_label_studio", "from_utf16", "load_label_studio", "local_path",
           "polygon_from_ls", "polygon_to_ls", "same_text", "save_label_studio",
           "to_label_studio", "to_utf16", "utf16_index"]
