"""The annotation types every labelnb module shares.

Conventions (see DESIGN.md):

* Boxes are corners by name, ``x0, y0, x1, y1``, in absolute pixels of the original
  image after EXIF orientation, origin top-left, continuous coordinates: the box that
  covers pixel (0, 0) exactly is ``Box(0, 0, 1, 1, "cat")``. ``.xywh`` is COCO's form.
* Polygons are flat ``(x1, y1, x2, y2, ...)`` in the same pixel space.
* Masks are COCO RLE (``{"size": [h, w], "counts": "..."}``), never dense arrays.
* Spans use Python ``str`` indices (code points), end exclusive.

Every type is a frozen, slotted dataclass with ``to_json()`` / ``from_json()`` that
round-trip losslessly, and validates itself on construction.

>>> b = Box(10, 20, 110, 70, "car")
>>> b.xywh
(10.0, 20.0, 100.0, 50.0)
>>> Region.from_json(b.to_json()) == b
True
"""

from __future__ import annotations

import builtins
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, get_args

import numpy as np

from labelnb._entropy import token_bytes
from labelnb.errors import ValidationError

Source = Literal["human", "model", "llm", "labeling_function", "consensus"]
SOURCES: tuple[str, ...] = get_args(Source)

JSON = dict[str, Any]


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored as database text, as the end of an error message,
    or None when it can. PostgreSQL refuses the NUL character in text (SQLite would keep
    it, so refusing it on both keeps the two alike), and a lone UTF-16 surrogate (text
    decoded wrongly) is not a character at all.

    >>> unstorable("chat 🐱") is None
    True
    >>> print(unstorable("a" + chr(0) + "b").split(",")[0])
    holds a NUL character (\\x00) at offset 1
    """
    if text.isascii() and "\x00" not in text:  # (most text: no NUL, no surrogate)
        return None
    i = text.find("\x00")
    if i >= 0:
        return (f"holds a NUL character (\\x00) at offset {i}, which databases do not store "
                "in text; remove it (text.replace('\\x00', ''))")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return (f"holds {text[e.start]!r} at offset {e.start}, half of a UTF-16 surrogate pair "
                "and not a character; decode the source text correctly (or with "
                "errors='replace')")
    return None


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be an item's text (blank, or :func:`unstorable`), as the end of
    an error message, or None."""
    if not text.strip():
        return "is empty; give a text with something to label, or leave it out"
    return unstorable(text)


def _finite(name: str, value: Any, where: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(
            f"{where}: field {name!r} must be a number, got {value!r}"
        ) from None
    if not math.isfinite(v):
        raise ValidationError(f"{where}: field {name!r} must be finite, got {value!r}")
    return v


def _check_label(label: Any, where: str) -> str:
    if not isinstance(label, str) or not label:
        raise ValidationError(
            f"{where}: field 'label' must be a non-empty string, got {label!r}"
        )
    return label


def _check_score(score: Any, where: str) -> float | None:
    if score is None:
        return None
    s = _finite("score", score, where)
    if not 0.0 <= s <= 1.0:
        raise ValidationError(f"{where}: field 'score' must lie in [0, 1], got {score!r}")
    return s


def _freeze_attrs(attributes: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise ValidationError(f"{where}: field 'attributes' must be a dict, got {attributes!r}")
    for k in attributes:
        if not isinstance(k, str):
            raise ValidationError(f"{where}: attribute names must be strings, got {k!r}")
    return dict(attributes)


class Region:
    """Base of the region types (Box, Polygon, Mask, Span, Choice).

    ``Region.from_json`` dispatches on the ``"type"`` key.
    """

    __slots__ = ()  # so the slotted subclasses really carry no __dict__

    type: ClassVar[str] = ""
    label: str
    score: float | None
    attributes: dict[str, Any]
    _registry: ClassVar[dict[str, builtins.type[Region]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type:
            Region._registry[cls.type] = cls

    def to_json(self) -> JSON:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Region:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Region:
        """Build the right region type from its JSON form (the ``"type"`` key)."""
        if not isinstance(data, Mapping):
            raise ValidationError(f"a region must be a JSON object, got {data!r}")
        kind = data.get("type")
        cls = Region._registry.get(str(kind))
        if cls is None:
            raise ValidationError(
                f"region {data!r}: field 'type' is {kind!r}; expected one of "
                f"{sorted(Region._registry)}"
            )
        return cls._from_json(data)

    def _common_json(self) -> JSON:
        out: JSON = {"type": self.type, "label": self.label}
        if self.score is not None:
            out["score"] = self.score
        if self.attributes:
            out["attributes"] = dict(self.attributes)
        return out

    def with_label(self, label: str) -> Region:
        """A copy with another label."""
        return replace(self, label=label)  # type: ignore[type-var]


@dataclass(frozen=True, slots=True)
class Box(Region):
    """An axis-aligned box, corners in continuous pixel coordinates.

    >>> Box(0, 0, 1, 1, "dot").area
    1.0
    >>> Box(5, 5, 2, 9, "bad")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    labelnb.errors.ValidationError: Box 'bad': x1 (2.0) is smaller than x0 (5.0); give ...
    """

    type: ClassVar[str] = "box"
    x0: float
    y0: float
    x1: float
    y1: float
    label: str
    score: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        where = f"Box {self.label!r}"
        _check_label(self.label, "Box")
        for name in ("x0", "y0", "x1", "y1"):
            object.__setattr__(self, name, _finite(name, getattr(self, name), where))
        if self.x1 < self.x0:
            raise ValidationError(
                f"{where}: x1 ({self.x1}) is smaller than x0 ({self.x0}); give the corners "
                "as x0 <= x1, y0 <= y1 (left, top, right, bottom)"
            )
        if self.y1 < self.y0:
            raise ValidationError(
                f"{where}: y1 ({self.y1}) is smaller than y0 ({self.y0}); give the corners "
                "as x0 <= x1, y0 <= y1 (left, top, right, bottom)"
            )
        object.__setattr__(self, "score", _check_score(self.score, where))
        object.__setattr__(self, "attributes", _freeze_attrs(self.attributes, where))

    @classmethod
    def from_xywh(cls, x: float, y: float, w: float, h: float, label: str, **kw: Any) -> Box:
        """Build from COCO's ``[x, y, width, height]``."""
        return cls(x, y, x + w, y + h, label, **kw)

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        """COCO's ``(x, y, width, height)``."""
        return (self.x0, self.y0, self.x1 - self.x0, self.y1 - self.y0)

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return self.width * self.height

    def within(self, width: float, height: float) -> bool:
        """Whether the box lies inside an image of that size."""
        return self.x0 >= 0 and self.y0 >= 0 and self.x1 <= width and self.y1 <= height

    def to_json(self) -> JSON:
        out = self._common_json()
        out.update(x0=self.x0, y0=self.y0, x1=self.x1, y1=self.y1)
        return out

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Box:
        try:
            return cls(
                data["x0"], data["y0"], data["x1"], data["y1"], data["label"],
                score=data.get("score"), attributes=data.get("attributes", {}),
            )
        except KeyError as e:
            raise ValidationError(f"box {dict(data)!r}: missing field {e.args[0]!r}") from None


@dataclass(frozen=True, slots=True)
class Polygon(Region):
    """A closed polygon, flat ``(x1, y1, x2, y2, ...)`` in pixel coordinates."""

    type: ClassVar[str] = "polygon"
    points: tuple[float, ...]
    label: str
    score: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        where = f"Polygon {self.label!r}"
        _check_label(self.label, "Polygon")
        if isinstance(self.points, str | bytes) or not isinstance(self.points, Iterable):
            raise ValidationError(f"{where}: field 'points' is {type(self.points).__name__}; "
                                  "give a flat list x1, y1, x2, y2, ...")
        pts = tuple(_finite("points", p, where) for p in self.points)
        if len(pts) % 2:
            raise ValidationError(
                f"{where}: field 'points' has an odd number of values ({len(pts)}); "
                "give a flat list x1, y1, x2, y2, ..."
            )
        if len(pts) < 6:
            raise ValidationError(
                f"{where}: field 'points' has {len(pts) // 2} vertices; a polygon needs at "
                "least 3"
            )
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "score", _check_score(self.score, where))
        object.__setattr__(self, "attributes", _freeze_attrs(self.attributes, where))

    @property
    def xy(self) -> np.ndarray:
        """The vertices as an ``(n, 2)`` array."""
        return np.asarray(self.points, dtype=np.float64).reshape(-1, 2)

    @property
    def area(self) -> float:
        """Shoelace area."""
        x, y = self.xy[:, 0], self.xy[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)

    @property
    def bbox(self) -> Box:
        xy = self.xy
        return Box(xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max(), self.label)

    def within(self, width: float, height: float) -> bool:
        return self.bbox.within(width, height)

    def to_json(self) -> JSON:
        out = self._common_json()
        out["points"] = list(self.points)
        return out

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Polygon:
        try:
            return cls(tuple(data["points"]), data["label"], score=data.get("score"),
                       attributes=data.get("attributes", {}))
        except KeyError as e:
            raise ValidationError(f"polygon: missing field {e.args[0]!r}") from None


@dataclass(frozen=True, slots=True)
class Mask(Region):
    """A segmentation mask as COCO RLE: ``rle = {"size": [h, w], "counts": str}``.

    ``counts`` is the compressed string form pycocotools writes. Build one from a
    dense array with :meth:`from_array`; densify with :meth:`to_array`.
    """

    type: ClassVar[str] = "mask"
    rle: dict[str, Any] = field(hash=False)
    label: str = ""
    score: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        where = f"Mask {self.label!r}"
        _check_label(self.label, "Mask")
        rle = self.rle
        if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
            raise ValidationError(
                f"{where}: field 'rle' must be COCO RLE {{'size': [h, w], 'counts': ...}}, "
                f"got {rle!r}"
            )
        size = rle["size"]
        if (not isinstance(size, Sequence) or len(size) != 2
                or not all(isinstance(s, int | np.integer) and s > 0 for s in size)):
            raise ValidationError(f"{where}: rle 'size' must be [height, width], got {size!r}")
        counts = rle["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")
        if isinstance(counts, list):  # uncompressed RLE: compress it
            from pycocotools import mask as mask_utils

            h, w = int(size[0]), int(size[1])
            if not all(isinstance(c, int | np.integer) and not isinstance(c, bool) and c >= 0
                       for c in counts):
                raise ValidationError(
                    f"{where}: uncompressed RLE counts must be non-negative ints, got {counts!r}"
                )
            if sum(counts) != h * w:
                raise ValidationError(
                    f"{where}: uncompressed RLE counts sum to {sum(counts)}, but size "
                    f"{h}x{w} has {h * w} pixels; the mask does not match its size"
                )
            c = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
            counts = c["counts"].decode("ascii")
        if not isinstance(counts, str):
            raise ValidationError(f"{where}: rle 'counts' must be a string, got {counts!r}")
        norm: dict[str, Any] = {"size": [int(size[0]), int(size[1])], "counts": counts}
        # pycocotools neither checks the string nor that the runs cover h*w pixels (and
        # decoding runs past its buffer when they cover more), so check both here.
        h, w = norm["size"]
        runs = _rle_string_runs(counts, where)
        if sum(runs) != h * w:
            raise ValidationError(
                f"{where}: rle 'counts' covers {sum(runs)} pixels, but 'size' {h}x{w} (h x w) "
                f"has {h * w}; the RLE was encoded at another size: re-encode the mask at "
                f"{h}x{w} or fix 'size'"
            )
        object.__setattr__(self, "rle", norm)
        object.__setattr__(self, "score", _check_score(self.score, where))
        object.__setattr__(self, "attributes", _freeze_attrs(self.attributes, where))

    def __hash__(self) -> int:
        return hash((self.type, self.label, self.rle["counts"], tuple(self.rle["size"])))

    @classmethod
    def from_array(cls, array: np.ndarray, label: str, **kw: Any) -> Mask:
        """Encode a 2-D boolean/0-1 array (height × width)."""
        from pycocotools import mask as mask_utils

        arr = np.asarray(array)
        if arr.ndim != 2:
            raise ValidationError(f"Mask {label!r}: array must be 2-D (h, w), got {arr.shape}")
        rle = mask_utils.encode(np.asfortranarray(arr.astype(np.uint8) != 0).astype(np.uint8))
        return cls({"size": [int(s) for s in rle["size"]],
                    "counts": rle["counts"].decode("ascii")}, label, **kw)

    def to_array(self) -> np.ndarray:
        """The dense boolean mask (height × width)."""
        from pycocotools import mask as mask_utils

        dense: np.ndarray = mask_utils.decode(_rle_bytes(self.rle)).astype(bool)
        return dense

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (int(self.rle["size"][0]), int(self.rle["size"][1]))

    @property
    def area(self) -> int:
        from pycocotools import mask as mask_utils

        return int(mask_utils.area(_rle_bytes(self.rle)))

    @property
    def bbox(self) -> Box:
        from pycocotools import mask as mask_utils

        x, y, w, h = (float(v) for v in mask_utils.toBbox(_rle_bytes(self.rle)))
        return Box(x, y, x + w, y + h, self.label)

    def to_json(self) -> JSON:
        out = self._common_json()
        out["rle"] = {"size": list(self.rle["size"]), "counts": self.rle["counts"]}
        return out

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Mask:
        try:
            return cls(data["rle"], data["label"], score=data.get("score"),
                       attributes=data.get("attributes", {}))
        except KeyError as e:
            raise ValidationError(f"mask: missing field {e.args[0]!r}") from None


def _rle_string_runs(counts: str, where: str) -> list[int]:
    """The run lengths in a compressed COCO RLE string (the format pycocotools'
    ``rleFrString`` reads: 6-bit groups offset by 48, runs after the second stored as
    differences to the run two before). Only used to validate; pycocotools decodes."""
    runs: list[int] = []
    p, n = 0, len(counts)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise ValidationError(f"{where}: rle 'counts' string is truncated")
            c = ord(counts[p]) - 48
            if not 0 <= c < 64:
                raise ValidationError(
                    f"{where}: rle 'counts' holds {counts[p]!r}, which is not a COCO RLE "
                    "character; give the string pycocotools.mask.encode writes"
                )
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        if x < 0:
            raise ValidationError(f"{where}: rle 'counts' decodes to a negative run ({x})")
        runs.append(x)
    return runs


def _rle_bytes(rle: Mapping[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    return {"size": list(rle["size"]),
            "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


@dataclass(frozen=True, slots=True)
class Span(Region):
    """A labeled character span: ``text[start:end]`` in Python code points.

    >>> s = Span(0, 5, "ORG")
    >>> s.validate_against("Apple buys a startup").text_in("Apple buys a startup")
    'Apple'
    """

    type: ClassVar[str] = "span"
    start: int
    end: int
    label: str
    score: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        where = f"Span {self.label!r} [{self.start}:{self.end}]"
        _check_label(self.label, "Span")
        for name in ("start", "end"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise ValidationError(f"{where}: field {name!r} must be an int, got {v!r}")
            object.__setattr__(self, name, int(v))
        if self.start < 0:
            raise ValidationError(f"{where}: field 'start' must be >= 0")
        if self.end <= self.start:
            raise ValidationError(
                f"{where}: field 'end' must be greater than 'start' (end is exclusive)"
            )
        object.__setattr__(self, "score", _check_score(self.score, where))
        object.__setattr__(self, "attributes", _freeze_attrs(self.attributes, where))

    def validate_against(self, text: str) -> Span:
        """Raise if the span does not lie inside ``text``; return self."""
        if self.end > len(text):
            raise ValidationError(
                f"Span {self.label!r} [{self.start}:{self.end}]: field 'end' lies outside "
                f"the text ({len(text)} code points); offsets are Python str indices, "
                "end exclusive"
            )
        return self

    def text_in(self, text: str) -> str:
        return text[self.start:self.end]

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    def to_json(self) -> JSON:
        out = self._common_json()
        out.update(start=self.start, end=self.end)
        return out

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Span:
        try:
            return cls(data["start"], data["end"], data["label"], score=data.get("score"),
                       attributes=data.get("attributes", {}))
        except KeyError as e:
            raise ValidationError(f"span: missing field {e.args[0]!r}") from None


@dataclass(frozen=True, slots=True)
class Choice(Region):
    """One class chosen for a whole item (``choice`` and, one per class, ``multi_choice``)."""

    type: ClassVar[str] = "choice"
    label: str
    score: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        where = f"Choice {self.label!r}"
        _check_label(self.label, "Choice")
        object.__setattr__(self, "score", _check_score(self.score, where))
        object.__setattr__(self, "attributes", _freeze_attrs(self.attributes, where))

    def to_json(self) -> JSON:
        return self._common_json()

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Choice:
        try:
            return cls(data["label"], score=data.get("score"),
                       attributes=data.get("attributes", {}))
        except KeyError as e:
            raise ValidationError(f"choice: missing field {e.args[0]!r}") from None


def new_annotation_id() -> str:
    """A new annotation id: 32 hex digits laid out as a UUIDv7 (RFC 9562), so ids sort by
    creation time to the millisecond, with 74 random bits after that.

    Time-ordered ids land at the end of the annotations' primary-key index instead of
    on a random page of it: a submit dirties one index page that the previous submit
    already had in the WAL, where a random (UUIDv4) id dirtied a fresh one each time and
    made every checkpoint copy thousands of them (``benchmarks/queue_throughput.py
    --breakdown``: the commits of a claim+submit about a quarter faster). Order by
    ``submitted_at``, not by id: ids from different machines follow their clocks.

    >>> a, b = new_annotation_id(), new_annotation_id()
    >>> len(a), int(a, 16) > 0, a[12], a != b
    (32, True, '7', True)
    """
    ms = time.time_ns() // 1_000_000
    rnd = int.from_bytes(token_bytes(10), "big")  # 80 bits, 74 of them used
    v = ((ms & (2**48 - 1)) << 80 | 0x7 << 76 | (rnd >> 68) << 64 | 0b10 << 62
         | rnd & (2**62 - 1))
    return f"{v:032x}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _parse_time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                f"{where}: field 'created_at' is not an ISO 8601 time: {value!r}"
            ) from None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    raise ValidationError(f"{where}: field 'created_at' must be a datetime, got {value!r}")


@dataclass(frozen=True, slots=True)
class Annotation:
    """One annotator's (or model's) complete answer for one item, with its provenance.

    Annotations are append-only: a correction is a new ``Annotation`` whose
    ``corrects`` holds the id of the one it corrects.

    >>> a = Annotation(item_id=3, regions=(Box(0, 0, 4, 4, "cat"),), author="ana")
    >>> Annotation.from_json(a.to_json()) == a
    True
    """

    item_id: int
    regions: tuple[Region, ...] = ()
    author: str = "unknown"
    source: Source = "human"
    created_at: datetime = field(default_factory=_utcnow)
    duration_s: float | None = None
    task_id: int | None = None
    schema_version: int | None = None
    id: str = field(default_factory=lambda: new_annotation_id())
    corrects: str | None = None
    model_version: str | None = None
    client_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # (lean: the message's ``where`` is made only when there is something to say)
        item_id = self.item_id
        if type(item_id) is not int:
            if isinstance(item_id, bool) or not isinstance(item_id, int | np.integer):
                raise ValidationError(f"{self._where()}: field 'item_id' must be an int item "
                                      "id")
            object.__setattr__(self, "item_id", int(item_id))
        self._check_regions()
        if self.source not in SOURCES:
            raise ValidationError(f"{self._where()}: field 'source' is {self.source!r}; "
                                  f"expected one of {list(SOURCES)}")
        if not isinstance(self.author, str) or not self.author:
            raise ValidationError(f"{self._where()}: field 'author' must be a non-empty string")
        self._check_texts(("id", "author", "corrects", "model_version", "client_id"))
        created = self.created_at
        if type(created) is not datetime or created.tzinfo is None:
            object.__setattr__(self, "created_at", _parse_time(created, self._where()))
        self._check_duration()

    @classmethod
    def _for_task(cls, *, item_id: int, regions: tuple[Region, ...], author: str,
                  created_at: datetime, task_id: int, schema_version: int,
                  corrects: str | None, duration_s: float | None,
                  client_id: str | None) -> Annotation:
        """The annotation a queue makes of the regions submitted for its lease.

        The queue fills in the item, task, author (a name checked when the queue was
        made), source, schema version and ``created_at`` (its clock, in UTC): what may be
        the caller's (``regions``, ``client_id``, ``duration_s``, and ``corrects``, which
        a hand-made Task can carry) is checked as ``__post_init__`` checks it, the rest
        is not checked again (a submit makes one of these; the
        checks of the dataclass's ``__init__`` were a tenth of a claim+submit's Python,
        ``benchmarks/queue_throughput.py``)."""
        if type(item_id) is not int:  # (a hand-made Task, not one from claim())
            return cls(item_id=item_id, regions=regions, author=author, source="human",
                       created_at=created_at, duration_s=duration_s, task_id=task_id,
                       schema_version=schema_version, corrects=corrects,
                       client_id=client_id)
        ann = object.__new__(cls)
        put = object.__setattr__
        put(ann, "item_id", item_id)
        put(ann, "regions", regions)
        put(ann, "author", author)
        put(ann, "source", "human")
        put(ann, "created_at", created_at)
        put(ann, "duration_s", duration_s)
        put(ann, "task_id", task_id)
        put(ann, "schema_version", schema_version)
        put(ann, "id", new_annotation_id())
        put(ann, "corrects", corrects)
        put(ann, "model_version", None)
        put(ann, "client_id", client_id)
        put(ann, "meta", {})
        ann._check_regions()
        if client_id is not None or corrects is not None:  # (a hand-made Task's target)
            ann._check_texts(("client_id", "corrects"))
        ann._check_duration()
        return ann

    def _check_regions(self) -> None:
        regions = self.regions
        if type(regions) is not tuple:
            regions = (regions,) if isinstance(regions, Region) else tuple(regions)
            object.__setattr__(self, "regions", regions)
        for r in regions:
            if not isinstance(r, Region):
                raise ValidationError(
                    f"{self._where()}: field 'regions' holds {r!r}; use Box, Polygon, Mask, "
                    "Span or Choice"
                )

    def _check_texts(self, names: tuple[str, ...]) -> None:
        # the store keeps these as text: refuse on SQLite what PostgreSQL refuses
        for name in names:
            value = getattr(self, name)
            if value is None and name != "id":
                continue
            if not isinstance(value, str):
                raise ValidationError(f"{self._where()}: field {name!r} must be a string, got "
                                      f"{value!r}")
            if (bad := unstorable(value)) is not None:
                raise ValidationError(f"{self._where()}: field {name!r} {bad}")

    def _check_duration(self) -> None:
        duration = self.duration_s
        if duration is not None:
            # (a float as is; the message's ``where`` only for a value that needs a look)
            d = duration if type(duration) is float and math.isfinite(duration) else (
                _finite("duration_s", duration, self._where()))
            if d < 0:
                raise ValidationError(f"{self._where()}: field 'duration_s' must be >= 0")
            object.__setattr__(self, "duration_s", d)

    def _where(self) -> str:
        return f"Annotation {self.id!r} of item {self.item_id!r}"

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.regions]

    def to_json(self) -> JSON:
        out: JSON = {
            "id": self.id,
            "item_id": self.item_id,
            "regions": [r.to_json() for r in self.regions],
            "author": self.author,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
        }
        for name in ("duration_s", "task_id", "schema_version", "corrects", "model_version",
                     "client_id"):
            v = getattr(self, name)
            if v is not None:
                out[name] = v
        if self.meta:
            out["meta"] = dict(self.meta)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Annotation:
        if not isinstance(data, Mapping):
            raise ValidationError(f"an annotation must be a JSON object, got {data!r}")
        if "item_id" not in data:
            raise ValidationError(f"annotation {data!r}: missing field 'item_id'")
        kw: dict[str, Any] = {k: data[k] for k in (
            "id", "author", "source", "created_at", "duration_s", "task_id", "schema_version",
            "corrects", "model_version", "client_id", "meta") if k in data and data[k] is not None}
        return cls(item_id=data["item_id"],
                   regions=tuple(Region.from_json(r) for r in data.get("regions", ())), **kw)

    def correct(self, regions: Iterable[Region], author: str, **kw: Any) -> Annotation:
        """A new annotation that corrects this one (the original stays untouched)."""
        return Annotation(item_id=self.item_id, regions=tuple(regions), author=author,
                          task_id=kw.pop("task_id", self.task_id),
                          schema_version=kw.pop("schema_version", self.schema_version),
                          corrects=self.id, **kw)


__all__ = [
    "Annotation", "Box", "Choice", "Mask", "Polygon", "Region", "Source", "SOURCES", "Span",
]
