"""Unit and property tests for ``labelnb.schema``: label classes, hotkeys, colours,
attributes, JSON/fingerprints, and checking regions and annotations against a schema."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelnb.errors import SchemaError, ValidationError
from labelnb.schema import KINDS, MEDIA, PALETTE, REGION_TYPES, Attribute, LabelClass, Schema
from labelnb.types import Annotation, Box, Choice, Mask, Polygon, Region, Span

PROPS = settings(max_examples=60, deadline=None)
HEX = re.compile(r"#[0-9a-fA-F]{6}")


def region_of(kind_type: type[Region], label: str, **kw: Any) -> Region:
    """A small valid region of the given type (for a 10x10 image / 10-char text)."""
    if kind_type is Box:
        return Box(1, 1, 5, 5, label, **kw)
    if kind_type is Polygon:
        return Polygon((1, 1, 5, 1, 5, 5), label, **kw)
    if kind_type is Mask:
        return Mask.from_array(np.eye(10, dtype=bool), label, **kw)
    if kind_type is Span:
        return Span(0, 4, label, **kw)
    return Choice(label, **kw)


ALL_TYPES: tuple[type[Region], ...] = (Box, Polygon, Mask, Span, Choice)


# --- construction ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_builds(kind: str) -> None:
    s = Schema(kind=kind, labels=["a", "b"])  # type: ignore[arg-type]
    assert s.kind == kind
    assert s.names == ["a", "b"]
    assert s.media == MEDIA[kind]
    assert set(s.media) <= {"image", "text"}


def test_kinds_are_the_documented_six() -> None:
    assert set(KINDS) == {"boxes", "polygons", "masks", "spans", "choice", "multi_choice"}


@pytest.mark.parametrize("kind", ["box", "bbox", "", None, "Boxes"])
def test_bad_kind_is_rejected(kind: Any) -> None:
    with pytest.raises(SchemaError) as e:
        Schema(kind=kind, labels=["a"])
    msg = str(e.value)
    assert "field 'kind'" in msg and repr(kind) in msg
    for k in KINDS:
        assert repr(k) in msg


@pytest.mark.parametrize("labels", [[], (), iter([])])
def test_empty_labels_are_rejected(labels: Any) -> None:
    with pytest.raises(SchemaError) as e:
        Schema(kind="boxes", labels=labels)
    assert "field 'labels'" in str(e.value) and "at least one" in str(e.value)


def test_one_string_is_not_a_list_of_labels() -> None:
    with pytest.raises(SchemaError, match="field 'labels'"):
        Schema(kind="choice", labels="cat")


def test_duplicate_label_names_are_rejected() -> None:
    with pytest.raises(SchemaError) as e:
        Schema(kind="boxes", labels=["cat", "dog", LabelClass("cat", color="#000000")])
    msg = str(e.value)
    assert "unique" in msg and "'cat'" in msg and "'dog'" not in msg


@pytest.mark.parametrize("name", ["", "   ", None, 3])
def test_label_names_must_be_non_empty_strings(name: Any) -> None:
    with pytest.raises(SchemaError, match="field 'name'"):
        LabelClass(name)


def test_labels_accept_names_dicts_and_classes() -> None:
    s = Schema(kind="spans", labels=[
        "PER",
        {"name": "ORG", "description": "companies", "examples": ["Apple", "ACME"]},
        LabelClass("LOC", color="#123456", hotkey="l", description="places"),
    ])
    assert s.names == ["PER", "ORG", "LOC"]
    assert s["ORG"].description == "companies"
    assert s["ORG"].examples == ("Apple", "ACME")
    assert s["LOC"].color == "#123456" and s["LOC"].hotkey == "l"
    assert "LOC" in s and "MISC" not in s and 3 not in s
    with pytest.raises(SchemaError) as e:
        s["MISC"]
    assert "'MISC'" in str(e.value) and "PER, ORG, LOC" in str(e.value)


def test_unknown_label_dict_field_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="colour"):
        Schema(kind="boxes", labels=[{"name": "cat", "colour": "#ffffff"}])


# --- hotkeys --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 5, 10, 11, 20, 22, 36])
def test_hotkeys_fill_digits_then_letters(n: int) -> None:
    s = Schema(kind="choice", labels=[f"c{i}" for i in range(n)])
    keys = [c.hotkey for c in s.labels]
    digits = [str(d) for d in range(1, 10)]
    assert keys[:9] == digits[:n]
    rest = [k for k in keys[9:] if k is not None]
    assert all(len(k) == 1 and k.isalpha() and k.islower() for k in rest)
    assert len(set(rest)) == len(rest) == min(n, 22) - min(n, 9)
    assert keys[22:] == [None] * (n - 22 if n > 22 else 0)
    # never a key a widget action uses by default (the class would shadow the action)
    actions = set("0webnarckxhsfy[]+-?")
    assert not actions & set(filter(None, keys))


def test_given_hotkeys_are_kept_and_skipped_when_filling() -> None:
    s = Schema(kind="boxes", labels=[
        "a", LabelClass("b", hotkey="1"), {"name": "c", "hotkey": "3"}, "d", "e",
    ])
    keys = {c.name: c.hotkey for c in s.labels}
    assert keys["b"] == "1" and keys["c"] == "3"
    # the free keys in order 1..9 minus the taken ones go to a, d, e in order
    free = [k for k in "123456789" if k not in {"1", "3"}]
    assert [keys["a"], keys["d"], keys["e"]] == free[:3]


def test_duplicate_hotkeys_are_rejected() -> None:
    with pytest.raises(SchemaError) as e:
        Schema(kind="boxes", labels=[LabelClass("cat", hotkey="c"), "dog",
                                     {"name": "cow", "hotkey": "c"}])
    msg = str(e.value)
    assert "'cat'" in msg and "'cow'" in msg and "'dog'" not in msg
    assert "'hotkey'" in msg and "'c'" in msg


@pytest.mark.parametrize("hotkey", ["", "ab", 1])
def test_hotkey_must_be_one_character(hotkey: Any) -> None:
    with pytest.raises(SchemaError) as e:
        LabelClass("cat", hotkey=hotkey)
    assert "'cat'" in str(e.value) and "field 'hotkey'" in str(e.value)


# --- colours --------------------------------------------------------------------------------


def test_colours_are_filled_from_the_palette() -> None:
    n = len(PALETTE) + 3
    s = Schema(kind="boxes", labels=[f"c{i}" for i in range(n)])
    colours = [c.color for c in s.labels]
    assert all(c is not None and HEX.fullmatch(c) for c in colours)
    assert len(set(colours[:len(PALETTE)])) == len(PALETTE)  # distinct while they last
    assert colours == [PALETTE[i % len(PALETTE)] for i in range(n)]


def test_given_colours_are_kept() -> None:
    s = Schema(kind="boxes", labels=[LabelClass("a", color="#abc"), "b",
                                     {"name": "c", "color": "#A0B1C2"}])
    assert s["a"].color == "#abc" and s["c"].color == "#A0B1C2"
    assert s["b"].color is not None and HEX.fullmatch(s["b"].color)


@pytest.mark.parametrize("color", ["red", "#12345", "#zzzzzz", "#ggg", "123456", "#1234567", 5])
def test_bad_colours_are_rejected(color: Any) -> None:
    with pytest.raises(SchemaError) as e:
        LabelClass("cat", color=color)
    msg = str(e.value)
    assert "'cat'" in msg and "field 'color'" in msg and "#" in msg


# --- attributes -----------------------------------------------------------------------------


@pytest.mark.parametrize(("attr", "value", "ok"), [
    (Attribute("note"), "hi", True),
    (Attribute("note"), 3, False),
    (Attribute("n", "number"), 3, True),
    (Attribute("n", "number"), 2.5, True),
    (Attribute("n", "number"), True, False),
    (Attribute("n", "number"), "3", False),
    (Attribute("flag", "bool"), False, True),
    (Attribute("flag", "bool"), 0, False),
    (Attribute("c", "choice", ("red", "blue")), "blue", True),
    (Attribute("c", "choice", ("red", "blue")), "green", False),
])
def test_attribute_check(attr: Attribute, value: Any, ok: bool) -> None:
    if ok:
        attr.check(value, "item 1")
        return
    with pytest.raises(SchemaError) as e:
        attr.check(value, "item 1")
    msg = str(e.value)
    assert msg.startswith("item 1:") and repr(attr.name) in msg and repr(value) in msg
    assert ("one of ['red', 'blue']" in msg) if attr.type == "choice" else (attr.type in msg)


def test_attribute_definitions_are_validated() -> None:
    with pytest.raises(SchemaError, match="field 'name'"):
        Attribute("")
    with pytest.raises(SchemaError) as e:
        Attribute("size", "integer")  # type: ignore[arg-type]
    assert "field 'type'" in str(e.value) and "'number'" in str(e.value)
    with pytest.raises(SchemaError, match="needs options"):
        Attribute("colour", "choice")
    assert Attribute("c", "choice", ["a", "b"]).options == ("a", "b")  # type: ignore[arg-type]


def test_attribute_dict_with_unknown_field_is_a_schema_error() -> None:
    with pytest.raises(SchemaError) as e:
        Schema(kind="boxes", labels=["a"], attributes=[{"name": "x", "kind": "bool"}])
    assert "'kind'" in str(e.value) and "name, type" in str(e.value)
    with pytest.raises(SchemaError, match="typo"):
        Schema(kind="boxes", labels=[{"name": "a", "attributes": [{"name": "x", "typo": 1}]}])
    with pytest.raises(SchemaError, match="Attribute or a dict"):
        Schema(kind="boxes", labels=["a"], attributes=["occluded"])  # type: ignore[list-item]


# --- JSON, equality, fingerprint ------------------------------------------------------------


def rich_schema(**over: Any) -> Schema:
    kw: dict[str, Any] = {
        "kind": "boxes",
        "labels": [
            LabelClass("car", description="any road vehicle", examples=("sedan", "van"),
                       attributes=(Attribute("make", "choice", ("vw", "fiat")),)),
            {"name": "person", "hotkey": "p", "color": "#ff0000"},
            "sign",
        ],
        "attributes": [Attribute("occluded", "bool", default=False),
                       {"name": "note", "type": "text", "required": False}],
        "instructions": "Box every object fully visible.",
    }
    kw.update(over)
    return Schema(**kw)


def test_schema_json_round_trip() -> None:
    s = rich_schema(version=3)
    data = orjson.loads(orjson.dumps(s.to_json()))
    back = Schema.from_json(data, version=3)
    assert back == s
    assert back.to_json() == s.to_json()
    assert back.fingerprint() == s.fingerprint()
    assert back["car"].attributes == s["car"].attributes
    assert back["car"].examples == ("sedan", "van")
    assert back.version == 3
    # colours and hotkeys filled in once are stored, so they survive the trip
    assert [(c.color, c.hotkey) for c in back.labels] == [(c.color, c.hotkey) for c in s.labels]


def test_schema_from_json_missing_field() -> None:
    with pytest.raises(SchemaError, match="missing field 'labels'"):
        Schema.from_json({"kind": "boxes"})


def test_version_is_not_content() -> None:
    a, b = rich_schema(version=1), rich_schema(version=2)
    assert a == b and a.fingerprint() == b.fingerprint()
    assert hash(a) == hash(b)


@pytest.mark.parametrize("change", [
    {"kind": "polygons"},
    {"instructions": "Box only cars."},
    {"attributes": []},
    {"labels": ["car", "person", "sign"]},            # loses car's description & attrs
    {"labels": [LabelClass("car", description="any road vehicle", examples=("sedan", "van"),
                           attributes=(Attribute("make", "choice", ("vw", "fiat")),)),
                {"name": "person", "hotkey": "p", "color": "#00ff00"}, "sign"]},
])
def test_fingerprint_changes_with_content(change: dict[str, Any]) -> None:
    base = rich_schema()
    other = rich_schema(**change)
    assert other != base
    assert other.fingerprint() != base.fingerprint()
    assert len(base.fingerprint()) == 16 and int(base.fingerprint(), 16) >= 0


def test_label_order_matters() -> None:
    a = Schema(kind="choice", labels=["x", "y"])
    b = Schema(kind="choice", labels=["y", "x"])
    assert a != b and a.fingerprint() != b.fingerprint()


def test_schema_is_frozen() -> None:
    s = rich_schema()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.kind = "spans"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.labels[0].name = "bus"  # type: ignore[misc]
    assert s.kind == "boxes" and s.names[0] == "car"


def test_with_labels_keeps_kind_attributes_and_instructions() -> None:
    s = rich_schema(version=5)
    t = s.with_labels(["car", "truck"])
    assert t.names == ["car", "truck"]
    assert (t.kind, t.attributes, t.instructions) == (s.kind, s.attributes, s.instructions)
    assert t.version is None
    assert s.names == ["car", "person", "sign"]


# storable names: any UTF-8 text but NUL, which databases do not keep in text (refused)
names = st.text(st.characters(codec="utf-8", blacklist_characters="\x00"), min_size=1,
                max_size=10).filter(lambda n: n.strip() != "")
attribute_defs = st.builds(
    Attribute,
    name=names,
    type=st.sampled_from(["text", "number", "bool"]),
    required=st.booleans(),
    default=st.none() | st.integers(-5, 5) | st.text(max_size=4),
) | st.builds(
    lambda n, opts, req: Attribute(n, "choice", tuple(opts), req),
    names, st.lists(names, min_size=1, max_size=4, unique=True), st.booleans(),
)


@st.composite
def schemas(draw: st.DrawFn) -> Schema:
    label_names = draw(st.lists(names, min_size=1, max_size=12, unique=True))
    hotkeys = iter(draw(st.permutations("abcdefghijklmnopqrstuvwxyz"))[: len(label_names)])
    classes = []
    for n in label_names:
        classes.append(LabelClass(
            n,
            color=draw(st.none() | st.from_regex(HEX, fullmatch=True)),
            hotkey=draw(st.none() | st.just(next(hotkeys))),
            description=draw(st.text(max_size=20)),
            examples=tuple(draw(st.lists(st.text(max_size=8), max_size=3))),
            attributes=tuple(draw(st.lists(attribute_defs, max_size=2,
                                           unique_by=lambda a: a.name))),
        ))
    return Schema(kind=draw(st.sampled_from(KINDS)), labels=classes,  # type: ignore[arg-type]
                  attributes=draw(st.lists(attribute_defs, max_size=3,
                                           unique_by=lambda a: a.name)),
                  instructions=draw(st.text(max_size=30)))


@PROPS
@given(schemas())
def test_schema_round_trip_property(s: Schema) -> None:
    back = Schema.from_json(orjson.loads(orjson.dumps(s.to_json())))
    assert back == s
    assert back.fingerprint() == s.fingerprint()
    keys = [c.hotkey for c in s.labels]
    assert len(set(keys)) == len(keys) and None not in keys
    assert all(c.color is not None and HEX.fullmatch(c.color) for c in s.labels)


# --- check_region ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rtype", ALL_TYPES)
def test_region_type_must_fit_the_kind(kind: str, rtype: type[Region]) -> None:
    s = Schema(kind=kind, labels=["a"])  # type: ignore[arg-type]
    region = region_of(rtype, "a")
    if rtype in REGION_TYPES[kind]:
        s.check_region(region, "item 1", width=10, height=10, text="0123456789")
        return
    with pytest.raises(SchemaError) as e:
        s.check_region(region, "item 1")
    msg = str(e.value)
    assert msg.startswith("item 1:") and rtype.__name__ in msg and repr(kind) in msg
    assert all(t.__name__ in msg for t in REGION_TYPES[kind])  # the fix


def test_unknown_label_is_rejected() -> None:
    s = Schema(kind="boxes", labels=["cat", "dog"])
    with pytest.raises(SchemaError) as e:
        s.check_region(Box(0, 0, 5, 5, "cow"), "item 1")
    msg = str(e.value)
    assert "item 1" in msg and "'cow'" in msg and "cat, dog" in msg and "set_schema" in msg


@pytest.mark.parametrize(("region", "inside"), [
    (Box(0, 0, 64, 48, "a"), True),
    (Box(10, 10, 64.5, 20, "a"), False),
    (Box(10, 10, 20, 48.01, "a"), False),
    (Box(-1, 0, 5, 5, "a"), False),
    (Polygon((0, 0, 64, 0, 64, 48), "a"), True),
    (Polygon((0, 0, 65, 0, 64, 48), "a"), False),
])
def test_geometry_outside_the_image_is_rejected(region: Region, inside: bool) -> None:
    kind = "boxes" if isinstance(region, Box) else "polygons"
    s = Schema(kind=kind, labels=["a"])  # type: ignore[arg-type]
    # without an image size nothing is checked
    s.check_region(region, "item 2")
    if inside:
        s.check_region(region, "item 2", width=64, height=48)
        return
    with pytest.raises(SchemaError) as e:
        s.check_region(region, "item 2", width=64, height=48)
    msg = str(e.value)
    assert "item 2" in msg and "outside" in msg and "64x48" in msg and "clip" in msg


@pytest.mark.parametrize(("shape", "ok"), [((48, 64), True), ((64, 48), False), ((48, 63), False)])
def test_mask_must_have_the_image_size(shape: tuple[int, int], ok: bool) -> None:
    s = Schema(kind="masks", labels=["cell"])
    arr = np.zeros(shape, bool)
    arr[2:5, 3:9] = True
    m = Mask.from_array(arr, "cell")
    if ok:
        s.check_region(m, "item 3", width=64, height=48)
        return
    with pytest.raises(SchemaError) as e:
        s.check_region(m, "item 3", width=64, height=48)
    msg = str(e.value)
    assert "item 3" in msg and "'cell'" in msg and str(list(shape)) in msg and "48x64" in msg


def test_span_outside_the_text_is_rejected() -> None:
    s = Schema(kind="spans", labels=["PER"])
    text = "Zoë 😀 met 李雷"
    s.check_region(Span(0, len(text), "PER"), "item 4", text=text)
    s.check_region(Span(len(text) - 2, len(text), "PER"), "item 4", text=text)
    with pytest.raises(SchemaError) as e:
        s.check_region(Span(3, len(text) + 1, "PER"), "item 4", text=text)
    msg = str(e.value)
    assert "item 4" in msg and "field 'end'" in msg and f"{len(text)} code points" in msg
    assert isinstance(e.value, ValidationError)


def test_attributes_are_checked_against_the_schema() -> None:
    s = Schema(kind="boxes", labels=[
        LabelClass("car", attributes=(Attribute("make", "choice", ("vw", "fiat")),)),
        "person",
    ], attributes=[Attribute("occluded", "bool", required=True), Attribute("conf", "number")])
    ok = Box(0, 0, 1, 1, "car", attributes={"occluded": True, "make": "vw", "conf": 0.5})
    s.check_region(ok, "item 5")
    s.check_region(Box(0, 0, 1, 1, "person", attributes={"occluded": False}), "item 5")

    with pytest.raises(SchemaError) as e:  # wrong type
        s.check_region(Box(0, 0, 1, 1, "person", attributes={"occluded": "yes"}), "item 5")
    assert "item 5" in str(e.value) and "'occluded'" in str(e.value) and "bool" in str(e.value)

    with pytest.raises(SchemaError) as e:  # wrong choice
        s.check_region(Box(0, 0, 1, 1, "car", attributes={"occluded": True, "make": "bmw"}),
                       "item 5")
    assert "'make'" in str(e.value) and "'vw'" in str(e.value) and "'bmw'" in str(e.value)

    with pytest.raises(SchemaError) as e:  # unknown attribute
        s.check_region(Box(0, 0, 1, 1, "car", attributes={"occluded": True, "colour": "red"}),
                       "item 5")
    msg = str(e.value)
    assert "'colour'" in msg and "not in the schema" in msg
    assert "['conf', 'make', 'occluded']" in msg  # the names that would work

    with pytest.raises(SchemaError) as e:  # a class attribute on another class
        s.check_region(Box(0, 0, 1, 1, "person", attributes={"occluded": True, "make": "vw"}),
                       "item 5")
    assert "'make'" in str(e.value) and "['conf', 'occluded']" in str(e.value)

    with pytest.raises(SchemaError) as e:  # missing required
        s.check_region(Box(0, 0, 1, 1, "car", attributes={"make": "vw"}), "item 5")
    msg = str(e.value)
    assert "item 5" in msg and "required" in msg and "'occluded'" in msg and "attributes=" in msg


def test_schema_without_attributes_rejects_any() -> None:
    s = Schema(kind="choice", labels=["spam", "ham"])
    with pytest.raises(SchemaError) as e:
        s.check_region(Choice("spam", attributes={"why": "links"}), "item 6")
    assert "'why'" in str(e.value) and "known: none" in str(e.value)


# --- check_annotation -----------------------------------------------------------------------


def test_choice_takes_exactly_one_choice() -> None:
    s = Schema(kind="choice", labels=["spam", "ham"])
    s.check_annotation(Annotation(item_id=1, regions=(Choice("ham"),)))
    with pytest.raises(SchemaError) as e:
        s.check_annotation(Annotation(item_id=7, regions=(Choice("ham"), Choice("spam"))))
    msg = str(e.value)
    assert "item 7" in msg and "one Choice" in msg and "multi_choice" in msg and "got 2" in msg


def test_multi_choice_rejects_a_class_twice() -> None:
    s = Schema(kind="multi_choice", labels=["indoor", "night", "people"])
    s.check_annotation(Annotation(item_id=1, regions=(Choice("indoor"), Choice("night"))))
    with pytest.raises(SchemaError) as e:
        s.check_annotation(Annotation(
            item_id=8, regions=(Choice("night"), Choice("indoor"), Choice("night"))))
    assert "item 8" in str(e.value) and "twice" in str(e.value) and "'night'" in str(e.value)


def test_check_annotation_names_the_region_index() -> None:
    s = Schema(kind="boxes", labels=["cat"])
    ann = Annotation(item_id=9, regions=(Box(0, 0, 5, 5, "cat"), Box(0, 0, 50, 5, "cat")))
    s.check_annotation(ann)  # no image size given: nothing to check geometry against
    with pytest.raises(SchemaError) as e:
        s.check_annotation(ann, width=20, height=20)
    assert "item 9, region 1" in str(e.value)
    spans = Schema(kind="spans", labels=["PER"])
    with pytest.raises(SchemaError) as e:
        spans.check_annotation(Annotation(item_id=10, regions=(Span(0, 2, "PER"),
                                                               Span(1, 9, "PER"))), text="abcd")
    assert "item 10, region 1" in str(e.value) and "field 'end'" in str(e.value)
