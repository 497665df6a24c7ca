"""The project's labeling schema: what kind of annotation, which classes, which keys.

>>> s = Schema(kind="boxes", labels=["cat", "dog"])
>>> [(c.name, c.hotkey) for c in s.labels]
[('cat', '1'), ('dog', '2')]
>>> s.check_region(Box(0, 0, 5, 5, "cow"), where="item 1")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
labelnb.errors.SchemaError: item 1: label 'cow' is not in the schema (cat, dog); add it ...
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

import numpy as np
import orjson

from labelnb.errors import SchemaError
from labelnb.types import Annotation, Box, Choice, Mask, Polygon, Region, Span, unstorable

Kind = Literal["boxes", "polygons", "masks", "spans", "choice", "multi_choice"]
KINDS: tuple[str, ...] = get_args(Kind)
AttributeType = Literal["text", "number", "bool", "choice"]

#: which region types each kind accepts
REGION_TYPES: dict[str, tuple[type[Region], ...]] = {
    "boxes": (Box,),
    "polygons": (Polygon,),
    "masks": (Mask, Polygon),
    "spans": (Span,),
    "choice": (Choice,),
    "multi_choice": (Choice,),
}
#: which media each kind annotates
MEDIA: dict[str, tuple[str, ...]] = {
    "boxes": ("image",), "polygons": ("image",), "masks": ("image",), "spans": ("text",),
    "choice": ("image", "text"), "multi_choice": ("image", "text"),
}

# Tableau-10 style palette, distinguishable on photos
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")
#: the keys given to classes in order: digits, then letters no widget action uses by
#: default (0 fits the view; w e b n wand and brushes; a r c k x h review; s skip;
#: f auto-fit; y accept all); classes beyond these get no key unless one is given
_HOTKEYS = "123456789qtuiopdgjlzvm"
_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


@dataclass(frozen=True, slots=True)
class Attribute:
    """A per-annotation attribute (e.g. ``occluded: bool``, ``color: choice``)."""

    name: str
    type: AttributeType = "text"
    options: tuple[str, ...] = ()
    required: bool = False
    default: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise SchemaError(f"attribute: field 'name' must be a non-empty string, got "
                              f"{self.name!r}")
        if (bad := unstorable(self.name)) is not None:
            raise SchemaError(f"attribute {self.name!r}: field 'name' {bad}")
        if self.type not in get_args(AttributeType):
            raise SchemaError(
                f"attribute {self.name!r}: field 'type' is {self.type!r}; expected one of "
                f"{list(get_args(AttributeType))}"
            )
        if not isinstance(self.required, bool):
            raise SchemaError(f"attribute {self.name!r}: field 'required' is {self.required!r}; "
                              "give True or False")
        options = _strings(self.options, f"attribute {self.name!r}", "options",
                           "['red', 'green']")
        for o in options:
            if isinstance(o, str) and (bad := unstorable(o)) is not None:
                raise SchemaError(f"attribute {self.name!r}: option {o!r} {bad}")
        object.__setattr__(self, "options", options)
        if self.type == "choice" and not self.options:
            raise SchemaError(f"attribute {self.name!r}: a 'choice' attribute needs options")

    def check(self, value: Any, where: str) -> None:
        """Raise :class:`SchemaError` unless ``value`` fits this attribute and can be
        stored: a finite number (JSON has no NaN or infinity), a text a database keeps
        (no NUL character, see :func:`~labelnb.types.unstorable`)."""
        ok = {
            "text": isinstance(value, str),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "choice": value in self.options,
        }[self.type]
        if not ok:
            want = f"one of {list(self.options)}" if self.type == "choice" else f"a {self.type}"
            raise SchemaError(
                f"{where}: attribute {self.name!r} is {value!r}; it must be {want}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise SchemaError(
                f"{where}: attribute {self.name!r} is {value!r}; a number attribute must be "
                "finite (JSON stores no NaN or infinity): give a real number, or leave the "
                "attribute out"
            )
        if isinstance(value, str) and (bad := unstorable(value)) is not None:
            raise SchemaError(f"{where}: attribute {self.name!r} {bad}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "options": list(self.options),
                "required": self.required, "default": self.default}


@dataclass(frozen=True, slots=True)
class LabelClass:
    """One class: its name, colour, hotkey, and the description and examples that
    annotators (and later LLM prompts) read."""

    name: str
    color: str | None = None
    hotkey: str | None = None
    description: str = ""
    examples: tuple[str, ...] = ()
    attributes: tuple[Attribute, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise SchemaError(f"label class: field 'name' must be a non-empty string, "
                              f"got {self.name!r}")
        bad = unstorable(self.name)
        if bad:
            raise SchemaError(f"label {self.name!r}: field 'name' {bad}")
        if self.hotkey is not None and (not isinstance(self.hotkey, str)
                                        or len(self.hotkey) != 1):
            raise SchemaError(
                f"label {self.name!r}: field 'hotkey' must be one character, got {self.hotkey!r}"
            )
        if self.color is not None and not (isinstance(self.color, str)
                                           and _HEX_COLOR.fullmatch(self.color)):
            raise SchemaError(
                f"label {self.name!r}: field 'color' must be a hex colour like '#1f77b4', "
                f"got {self.color!r}"
            )
        object.__setattr__(self, "examples", _strings(self.examples, f"label {self.name!r}",
                                                      "examples", "['a cat on a sofa']"))
        attributes = _attrs(self.attributes, f"label {self.name!r}")
        object.__setattr__(self, "attributes", attributes)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "color": self.color, "hotkey": self.hotkey,
                "description": self.description, "examples": list(self.examples),
                "attributes": [a.to_json() for a in self.attributes]}


def _strings(value: Any, where: str, field_name: str, example: str) -> tuple[Any, ...]:
    """``value`` (a list of strings) as a tuple; one string is refused, not split into
    its characters."""
    if value is None:
        return ()
    if isinstance(value, str | bytes):
        raise SchemaError(
            f"{where}: field {field_name!r} is one string ({value!r}); give a list of "
            f"strings, e.g. {example}"
        )
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise SchemaError(f"{where}: field {field_name!r} must be a list of strings, e.g. "
                          f"{example}; got {value!r}")
    return tuple(value)


def _attrs(attributes: Any, where: str) -> tuple[Attribute, ...]:
    """Attributes (``Attribute`` or dicts) as a tuple, each name given once."""
    if isinstance(attributes, str | Mapping | Attribute) or not isinstance(attributes,
                                                                            Iterable):
        raise SchemaError(f"{where}: field 'attributes' must be a list of attributes "
                          f"(Attribute or dicts), got {attributes!r}")
    out = tuple(_attr(a) for a in attributes)
    names = [a.name for a in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SchemaError(
            f"{where}: attribute names must be unique; repeated: {dup}; give each attribute "
            "once (one name, one type)"
        )
    return out


def _attr(a: Attribute | Mapping[str, Any]) -> Attribute:
    if isinstance(a, Attribute):
        return a
    if isinstance(a, Mapping):
        try:
            return Attribute(**dict(a))
        except TypeError as e:
            raise SchemaError(
                f"attribute {dict(a)!r}: {e}; the fields are name, type, options, required, "
                "default"
            ) from None
    raise SchemaError(f"attribute {a!r}: give an Attribute or a dict")


def _label(x: LabelClass | str | Mapping[str, Any]) -> LabelClass:
    if isinstance(x, LabelClass):
        return x
    if isinstance(x, str):
        return LabelClass(x)
    if isinstance(x, Mapping):
        try:
            return LabelClass(**dict(x))
        except TypeError as e:
            raise SchemaError(f"label {x!r}: {e}") from None
    raise SchemaError(f"label {x!r}: give a name, a LabelClass or a dict")


def _on_one_line(xy: np.ndarray) -> bool:
    """Whether polygon points all lie on one line (no area). Not the shoelace area,
    which a symmetric self-crossing polygon (a bow tie) cancels to 0."""
    d = xy - xy[0]
    return bool(np.linalg.matrix_rank(d, tol=1e-9 * max(1.0, float(np.abs(d).max()))) < 2)


@dataclass(frozen=True, slots=True)
class Schema:
    """What a project labels.

    ``kind`` is one of ``boxes``, ``polygons``, ``masks``, ``spans``, ``choice``,
    ``multi_choice``. ``labels`` are names, dicts or :class:`LabelClass`. Colours and
    hotkeys (1-9, then q, t, u, i, o, p and other letters no widget action uses; 0
    fits the view) are filled in where not given. ``attributes`` apply to every
    annotation region; a class may add its own (one of the same name as a
    project-wide attribute takes its place for that class). Attribute names are unique
    in each list, and ``examples`` and ``options`` are lists of strings (one string is
    refused rather than split into its characters).

    The store versions schemas: setting a changed schema on a project makes a new
    version, and every annotation records the version it was made under.
    """

    kind: Kind
    labels: tuple[LabelClass, ...]
    attributes: tuple[Attribute, ...] = ()
    instructions: str = ""
    version: int | None = field(default=None, compare=False)
    #: label name -> (class, the attributes its regions may carry by name); built once
    _by_name: dict[str, tuple[LabelClass, dict[str, Attribute]]] = field(
        init=False, repr=False, compare=False, hash=False)

    def __init__(self, kind: Kind, labels: Iterable[LabelClass | str | Mapping[str, Any]],
                 attributes: Iterable[Attribute | Mapping[str, Any]] = (),
                 instructions: str = "", version: int | None = None) -> None:
        if kind not in KINDS:
            raise SchemaError(f"schema: field 'kind' is {kind!r}; expected one of {list(KINDS)}")
        if isinstance(labels, str):
            raise SchemaError("schema: field 'labels' must be a list of names, not one string")
        classes = [_label(x) for x in labels]
        if not classes:
            raise SchemaError("schema: field 'labels' is empty; give at least one label class")
        names = [c.name for c in classes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SchemaError(f"schema: label names must be unique; repeated: {dup}")
        taken: dict[str, str] = {}
        for c in classes:
            if c.hotkey and c.hotkey in taken:
                raise SchemaError(
                    f"schema: labels {taken[c.hotkey]!r} and {c.name!r} share the field "
                    f"'hotkey' {c.hotkey!r}; give each label its own hotkey, or none to have "
                    "one filled in"
                )
            if c.hotkey:
                taken[c.hotkey] = c.name
        free = iter(k for k in _HOTKEYS if k not in taken)
        filled = []
        for i, c in enumerate(classes):
            c = replace(c, color=c.color or PALETTE[i % len(PALETTE)],
                        hotkey=c.hotkey or next(free, None))
            filled.append(c)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "labels", tuple(filled))
        object.__setattr__(self, "attributes", _attrs(attributes, "schema"))
        object.__setattr__(self, "instructions", instructions)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "_by_name", {
            c.name: (c, {a.name: a for a in (*self.attributes, *c.attributes)})
            for c in self.labels})

    # --- lookups -------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [c.name for c in self.labels]

    def __getitem__(self, name: str) -> LabelClass:
        hit = self._by_name.get(name) if isinstance(name, str) else None
        if hit is not None:
            return hit[0]
        raise SchemaError(f"label {name!r} is not in the schema ({', '.join(self.names)})")

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._by_name
        except TypeError:  # unhashable
            return False

    @property
    def media(self) -> tuple[str, ...]:
        """Which item media this kind annotates (``image``, ``text``)."""
        return MEDIA[self.kind]

    # --- validation ----------------------------------------------------------------
    def check_region(self, region: Region, where: str, *, width: int | None = None,
                     height: int | None = None, text: str | None = None) -> None:
        """Raise :class:`SchemaError` if ``region`` does not fit this schema / item."""
        allowed = REGION_TYPES[self.kind]
        if not isinstance(region, allowed):
            raise SchemaError(
                f"{where}: a {type(region).__name__} cannot go in a {self.kind!r} project; "
                f"use {' or '.join(t.__name__ for t in allowed)}"
            )
        hit = self._by_name.get(region.label)
        if hit is None:
            raise SchemaError(
                f"{where}: label {region.label!r} is not in the schema "
                f"({', '.join(self.names)}); add it with project.set_schema(...) or fix the "
                "label"
            )
        attrs = hit[1]
        for k, v in region.attributes.items():
            if k not in attrs:
                raise SchemaError(
                    f"{where}: attribute {k!r} is not in the schema "
                    f"(known: {sorted(attrs) or 'none'})"
                )
            attrs[k].check(v, where)
        for a in attrs.values():
            if a.required and a.name not in region.attributes:
                raise SchemaError(
                    f"{where}: required attribute {a.name!r} is missing; set it in the "
                    f"region's attributes, e.g. attributes={{{a.name!r}: ...}}"
                )
        flat = (not region.area > 0 if isinstance(region, Box)
                else _on_one_line(region.xy) if isinstance(region, Polygon) else False)
        if flat:  # stored, it is exported with area 0, and imports refuse it
            shape = (f"a box with no area ({region.width:g} x {region.height:g} px)"
                     if isinstance(region, Box) else
                     "a polygon with no area (its points on one line)")
            raise SchemaError(
                f"{where}: {region.label!r} is {shape}; give it a width and a height, or "
                "leave it out"
            )
        if width is not None and height is not None:
            if isinstance(region, Box | Polygon) and not region.within(width, height):
                raise SchemaError(
                    f"{where}: {region.label!r} {type(region).__name__.lower()} lies outside "
                    f"the image ({width}x{height} px); clip it to 0 <= x <= {width}, "
                    f"0 <= y <= {height}"
                )
            if isinstance(region, Mask) and region.size != (height, width):
                raise SchemaError(
                    f"{where}: mask {region.label!r} has size {list(region.size)} (h, w) but "
                    f"the image is {height}x{width} (h x w); encode the mask at image size"
                )
        if isinstance(region, Mask) and region.area == 0:  # as a flat box, after its size
            raise SchemaError(f"{where}: {region.label!r} is a mask with no pixel set; draw "
                              "it, or leave it out")
        if text is not None and isinstance(region, Span):
            try:
                region.validate_against(text)
            except SchemaError:
                raise
            except Exception as e:
                raise SchemaError(f"{where}: {e}") from None

    def check_annotation(self, ann: Annotation, *, width: int | None = None,
                         height: int | None = None, text: str | None = None) -> None:
        where = f"item {ann.item_id}"
        for i, r in enumerate(ann.regions):
            self.check_region(r, f"{where}, region {i}", width=width, height=height, text=text)
        if self.kind == "choice" and len(ann.regions) > 1:
            raise SchemaError(
                f"{where}: a 'choice' project takes one Choice per annotation, got "
                f"{len(ann.regions)}; use kind='multi_choice' for several"
            )
        if self.kind == "multi_choice":
            labels = [r.label for r in ann.regions]
            if len(set(labels)) != len(labels):
                raise SchemaError(f"{where}: a class is chosen twice ({labels})")
        if self.kind == "spans":
            seen: dict[tuple[int, int, str], int] = {}
            for i, r in enumerate(ann.regions):
                assert isinstance(r, Span)
                key = (r.start, r.end, r.label)
                if key in seen:  # agreement would count the copy as a disagreement
                    raise SchemaError(
                        f"{where}, region {i}: span [{r.start}:{r.end}] {r.label!r} is given "
                        f"twice (also region {seen[key]}); give each span once")
                seen[key] = i

    # --- JSON ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "labels": [c.to_json() for c in self.labels],
                "attributes": [a.to_json() for a in self.attributes],
                "instructions": self.instructions}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], version: int | None = None) -> Schema:
        try:
            return cls(kind=data["kind"], labels=data["labels"],
                       attributes=data.get("attributes", ()),
                       instructions=data.get("instructions", ""), version=version)
        except KeyError as e:
            raise SchemaError(f"schema JSON: missing field {e.args[0]!r}") from None

    def fingerprint(self) -> str:
        """A hash of the content (not the version): equal schemas, equal fingerprints."""
        return hashlib.sha256(orjson.dumps(self.to_json(), option=orjson.OPT_SORT_KEYS)
                              ).hexdigest()[:16]

    def with_labels(self, labels: Sequence[LabelClass | str | Mapping[str, Any]]) -> Schema:
        return Schema(self.kind, labels, self.attributes, self.instructions)


def check_new_label_names(schema: Schema, keep: Collection[str] = ()) -> None:
    """Refuse, in a schema being created or changed, a label name that exports cannot
    carry: spaces around it, or a control character (a line break, a tab). VOC's
    ``labels.txt``, TFRecord's label map and YOLO's ``data.yaml`` list labels a line
    each, and read such a name back as another. Names in ``keep`` (the current
    version's) stay as they are: a project that has them still opens and changes.

    >>> check_new_label_names(Schema("choice", ["cat", " dog"]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    labelnb.errors.SchemaError: label ' dog': field 'name' has spaces around it, ... 'dog'
    """
    for c in schema.labels:
        name = c.name
        if name in keep:
            continue
        if name != name.strip():
            raise SchemaError(
                f"label {name!r}: field 'name' has spaces around it, which exports that list "
                "labels a line each (VOC labels.txt, TFRecord label maps, YOLO data.yaml) do "
                f"not keep. Fix: name it {name.strip()!r}")
        if any(unicodedata.category(ch) == "Cc" for ch in name):
            raise SchemaError(
                f"label {name!r}: field 'name' holds a control character (a line break or a "
                "tab), which exports that list labels a line each cannot hold. Fix: name it "
                f"on one line, e.g. {' '.join(name.split())!r}")


__all__ = ["Attribute", "KINDS", "Kind", "LabelClass", "Schema", "check_new_label_names"]
