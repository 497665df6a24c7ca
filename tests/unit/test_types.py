"""Unit and property tests for ``labelnb.types``: validation, geometry and JSON round trips."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labelnb.errors import LabelnbError, ValidationError
from labelnb.types import SOURCES, Annotation, Box, Choice, Mask, Polygon, Region, Span

PROPS = settings(max_examples=100, deadline=None)


def via_orjson(data: Any) -> Any:
    """What the store does: bytes out, bytes back in."""
    return orjson.loads(orjson.dumps(data))


def runs_of(arr: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE of a 2-D array: column-major run lengths, starting with 0s."""
    flat = np.asarray(arr, dtype=bool).flatten(order="F")
    runs: list[int] = []
    value, n = False, 0
    for px in flat:
        if bool(px) == value:
            n += 1
        else:
            runs.append(n)
            value, n = not value, 1
    runs.append(n)
    return runs


# --- strategies ---------------------------------------------------------------------------

labels = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
scores = st.none() | st.floats(0.0, 1.0)
coords = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
json_scalars = (st.none() | st.booleans() | st.integers(-(2**53), 2**53)
                | st.floats(allow_nan=False, allow_infinity=False)
                | st.text(st.characters(codec="utf-8"), max_size=8))
json_values = st.recursive(
    json_scalars,
    lambda kids: st.lists(kids, max_size=3)
    | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=5), kids, max_size=3),
    max_leaves=6,
)
attr_dicts = st.dictionaries(st.text(st.characters(codec="utf-8"), min_size=1, max_size=8),
                             json_values, max_size=3)


@st.composite
def boxes(draw: st.DrawFn) -> Box:
    xa, xb = sorted((draw(coords), draw(coords)))
    ya, yb = sorted((draw(coords), draw(coords)))
    return Box(xa, ya, xb, yb, draw(labels), score=draw(scores), attributes=draw(attr_dicts))


@st.composite
def polygons(draw: st.DrawFn) -> Polygon:
    n = draw(st.integers(3, 8))
    pts = draw(st.lists(coords, min_size=2 * n, max_size=2 * n))
    return Polygon(tuple(pts), draw(labels), score=draw(scores), attributes=draw(attr_dicts))


small_masks = hnp.arrays(np.bool_, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1,
                                                    max_side=12))


@st.composite
def masks(draw: st.DrawFn) -> Mask:
    return Mask.from_array(draw(small_masks), draw(labels), score=draw(scores),
                           attributes=draw(attr_dicts))


@st.composite
def spans(draw: st.DrawFn) -> Span:
    start = draw(st.integers(0, 10_000))
    end = draw(st.integers(start + 1, start + 500))
    return Span(start, end, draw(labels), score=draw(scores), attributes=draw(attr_dicts))


choices = st.builds(Choice, labels, score=scores, attributes=attr_dicts)
regions = st.one_of(boxes(), polygons(), masks(), spans(), choices)

# pieces whose code-point length differs from their UTF-16 or grapheme length
TEXT_PIECES = ["a", "Z", " ", "\r\n", "\n", "😀", "👍🏽", "🇫🇷", "漢", "字", "한국어", "e\u0301",
               "n\u0303", "\u200d", "Ω", "ß"]
texts = st.lists(st.sampled_from(TEXT_PIECES), max_size=20).map("".join)

offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
aware_times = st.datetimes(datetime(1970, 1, 2), datetime(2100, 1, 1),
                           timezones=st.just(UTC) | offsets)


#: text a database stores (no NUL, which Annotation refuses)
STORABLE = st.characters(codec="utf-8", blacklist_characters="\x00")


@st.composite
def annotations(draw: st.DrawFn) -> Annotation:
    opt_text = st.none() | st.text(STORABLE, min_size=1, max_size=10)
    kw: dict[str, Any] = {
        "item_id": draw(st.integers(0, 2**62)),
        "regions": tuple(draw(st.lists(regions, max_size=4))),
        "author": draw(st.text(STORABLE, min_size=1, max_size=10)),
        "source": draw(st.sampled_from(SOURCES)),
        "created_at": draw(aware_times),
        "duration_s": draw(st.none() | st.floats(0, 1e7)),
        "task_id": draw(st.none() | st.integers(1, 2**62)),
        "schema_version": draw(st.none() | st.integers(1, 1000)),
        "corrects": draw(opt_text),
        "model_version": draw(opt_text),
        "client_id": draw(opt_text),
        "meta": draw(attr_dicts),
    }
    if draw(st.booleans()):
        kw["id"] = draw(st.text(STORABLE, min_size=1, max_size=32))
    return Annotation(**kw)


# --- JSON round trips (every type, in memory and through orjson) ----------------------------


@PROPS
@given(regions)
def test_region_json_round_trip(region: Region) -> None:
    data = region.to_json()
    assert data["type"] == region.type
    back = Region.from_json(data)
    assert type(back) is type(region)
    assert back == region
    stored = Region.from_json(via_orjson(data))
    assert stored == region
    assert stored.to_json() == data
    assert hash(stored) == hash(region)


@PROPS
@given(regions)
def test_region_json_omits_unset_optionals(region: Region) -> None:
    data = region.to_json()
    assert ("score" in data) == (region.score is not None)
    assert ("attributes" in data) == bool(region.attributes)


@PROPS
@given(annotations())
def test_annotation_json_round_trip_keeps_provenance(ann: Annotation) -> None:
    data = ann.to_json()
    back = Annotation.from_json(via_orjson(data))
    assert back == ann
    assert back.to_json() == data
    for name in ("id", "item_id", "author", "source", "duration_s", "task_id",
                 "schema_version", "corrects", "model_version", "client_id", "meta"):
        assert getattr(back, name) == getattr(ann, name), name
    assert back.created_at == ann.created_at
    assert back.created_at.utcoffset() == ann.created_at.utcoffset()
    assert [type(r) for r in back.regions] == [type(r) for r in ann.regions]


# --- Box ------------------------------------------------------------------------------------


def test_box_geometry() -> None:
    b = Box(10, 20, 110, 70, "car")
    assert (b.x0, b.y0, b.x1, b.y1) == (10.0, 20.0, 110.0, 70.0)
    assert all(isinstance(v, float) for v in (b.x0, b.y0, b.x1, b.y1))
    assert b.width == 110 - 10
    assert b.height == 70 - 20
    assert b.area == (110 - 10) * (70 - 20)
    assert b.xywh == (10.0, 20.0, 100.0, 50.0)
    # the box covering pixel (0, 0) exactly
    assert Box(0, 0, 1, 1, "px").area == 1.0


@PROPS
@given(boxes())
def test_box_from_xywh_inverts_xywh(b: Box) -> None:
    again = Box.from_xywh(*b.xywh, b.label, score=b.score, attributes=b.attributes)
    assert again.x0 == b.x0 and again.y0 == b.y0
    assert math.isclose(again.x1, b.x1, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(again.y1, b.y1, rel_tol=1e-9, abs_tol=1e-6)
    assert again.width >= 0 and again.height >= 0


@pytest.mark.parametrize(("box", "w", "h", "inside"), [
    (Box(0, 0, 640, 480, "a"), 640, 480, True),   # touches every edge: still inside
    (Box(0, 0, 640.5, 480, "a"), 640, 480, False),
    (Box(-0.5, 0, 10, 10, "a"), 640, 480, False),
    (Box(0, -1, 10, 10, "a"), 640, 480, False),
    (Box(0, 0, 10, 481, "a"), 640, 480, False),
    (Box(5, 5, 5, 5, "a"), 640, 480, True),
])
def test_box_within(box: Box, w: int, h: int, inside: bool) -> None:
    assert box.within(w, h) is inside


@pytest.mark.parametrize(("args", "small", "big"), [
    ((5, 0, 2, 9), "x1", "x0"),
    ((0, 5, 2, 1), "y1", "y0"),
])
def test_box_with_swapped_corners_is_rejected(args: tuple[float, ...], small: str,
                                              big: str) -> None:
    with pytest.raises(ValidationError) as e:
        Box(*args, "truck")
    msg = str(e.value)
    assert "'truck'" in msg                     # the item
    assert f"{small} (" in msg and f"{big} (" in msg  # the fields
    assert "x0 <= x1" in msg                    # the fix


@pytest.mark.parametrize(("field", "value"), [
    ("x0", float("nan")), ("y1", float("inf")), ("x1", "wide"), ("y0", None),
    pytest.param("x0", 10**400, id="x0-int-too-big-for-float"),
])
def test_box_rejects_non_finite_or_non_numbers(field: str, value: Any) -> None:
    kw: dict[str, Any] = {"x0": 0, "y0": 0, "x1": 1, "y1": 1}
    kw[field] = value
    with pytest.raises(ValidationError, match=f"field '{field}'"):
        Box(kw["x0"], kw["y0"], kw["x1"], kw["y1"], "cat")


@pytest.mark.parametrize("label", ["", None, 3])
def test_empty_or_non_string_label_is_rejected(label: Any) -> None:
    for make in (lambda: Box(0, 0, 1, 1, label), lambda: Choice(label),
                 lambda: Span(0, 1, label), lambda: Polygon((0, 0, 1, 0, 1, 1), label)):
        with pytest.raises(ValidationError, match="field 'label'"):
            make()


@pytest.mark.parametrize("score", [-0.01, 1.5, float("nan"), "high"])
def test_score_outside_unit_interval_is_rejected(score: Any) -> None:
    with pytest.raises(ValidationError, match="field 'score'"):
        Box(0, 0, 1, 1, "cat", score=score)


def test_score_bounds_are_inclusive() -> None:
    assert Box(0, 0, 1, 1, "cat", score=0).score == 0.0
    assert Choice("cat", score=1).score == 1.0


def test_attributes_must_be_a_dict_with_string_keys() -> None:
    with pytest.raises(ValidationError, match="field 'attributes'"):
        Box(0, 0, 1, 1, "cat", attributes=["occluded"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="attribute names must be strings"):
        Choice("cat", attributes={1: True})  # type: ignore[dict-item]


def test_attributes_are_copied_not_shared() -> None:
    attrs = {"occluded": True}
    b = Box(0, 0, 1, 1, "cat", attributes=attrs)
    attrs["occluded"] = False
    assert b.attributes == {"occluded": True}


# --- Polygon --------------------------------------------------------------------------------


def test_polygon_geometry() -> None:
    # a 4 x 3 rectangle as a polygon, then a right triangle
    rect = Polygon([1, 2, 5, 2, 5, 5, 1, 5], "field")
    assert rect.points == (1.0, 2.0, 5.0, 2.0, 5.0, 5.0, 1.0, 5.0)
    assert rect.xy.shape == (4, 2)
    assert rect.area == pytest.approx((5 - 1) * (5 - 2))
    assert rect.bbox == Box(1, 2, 5, 5, "field")
    tri = Polygon((0, 0, 6, 0, 0, 4), "roof")
    assert tri.area == pytest.approx(6 * 4 / 2)
    # orientation does not change the area
    assert Polygon((0, 0, 0, 4, 6, 0), "roof").area == pytest.approx(tri.area)
    assert rect.within(5, 5) and not rect.within(4, 5)


def test_polygon_accepts_numpy_points() -> None:
    p = Polygon(np.array([0, 0, 2, 0, 2, 2], dtype=np.int32), "a")
    assert p.points == (0.0, 0.0, 2.0, 0.0, 2.0, 2.0)
    assert all(type(v) is float for v in p.points)


@PROPS
@given(polygons())
def test_polygon_bbox_contains_every_vertex(p: Polygon) -> None:
    b = p.bbox
    xy = p.xy
    assert b.x0 == xy[:, 0].min() and b.x1 == xy[:, 0].max()
    assert b.y0 == xy[:, 1].min() and b.y1 == xy[:, 1].max()
    # shoelace sums products of coordinates, so its rounding error scales with their square
    tol = 1e-12 * max(1.0, float(np.abs(xy).max())) ** 2
    assert p.area <= b.area * (1 + 1e-9) + tol


def test_polygon_rejects_odd_and_short_point_lists() -> None:
    with pytest.raises(ValidationError) as e:
        Polygon((0, 0, 1, 0, 1), "lake")
    assert "'lake'" in str(e.value) and "field 'points'" in str(e.value)
    assert "odd" in str(e.value)
    with pytest.raises(ValidationError) as e:
        Polygon((0, 0, 1, 1), "lake")
    assert "field 'points'" in str(e.value) and "at least 3" in str(e.value)
    with pytest.raises(ValidationError, match="field 'points'"):
        Polygon((0, 0, 1, float("nan"), 1, 1), "lake")


# --- Mask -----------------------------------------------------------------------------------


@PROPS
@given(small_masks)
def test_mask_from_array_round_trips(arr: np.ndarray) -> None:
    m = Mask.from_array(arr, "cell")
    assert m.size == arr.shape
    assert m.rle["size"] == list(arr.shape)
    assert isinstance(m.rle["counts"], str)
    dense = m.to_array()
    assert dense.dtype == np.bool_
    np.testing.assert_array_equal(dense, arr)
    assert m.area == int(arr.sum())
    back = Region.from_json(via_orjson(m.to_json()))
    assert back == m
    np.testing.assert_array_equal(back.to_array(), arr)  # type: ignore[attr-defined]


@PROPS
@given(small_masks)
def test_mask_from_uncompressed_rle_equals_from_array(arr: np.ndarray) -> None:
    h, w = arr.shape
    m = Mask({"size": [h, w], "counts": runs_of(arr)}, "cell")
    assert m == Mask.from_array(arr, "cell")
    assert isinstance(m.rle["counts"], str)  # stored compressed


@PROPS
@given(small_masks.filter(lambda a: a.any()))
def test_mask_bbox_is_the_tight_box_of_its_pixels(arr: np.ndarray) -> None:
    ys, xs = np.nonzero(arr)
    expected = Box(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, "cell")
    assert Mask.from_array(arr, "cell").bbox == expected


def test_mask_accepts_nonzero_ints_and_bytes_counts() -> None:
    arr = np.array([[0, 3], [7, 0]])
    m = Mask.from_array(arr, "x")
    np.testing.assert_array_equal(m.to_array(), arr != 0)
    raw = {"size": [2, 2], "counts": m.rle["counts"].encode("ascii")}
    assert Mask(raw, "x") == m


@PROPS
@given(small_masks, st.integers(1, 14), st.integers(1, 14))
def test_mask_rle_of_the_wrong_size_is_rejected(arr: np.ndarray, h: int, w: int) -> None:
    good = Mask.from_array(arr, "cell")
    if h * w == arr.size:
        h += 1
    with pytest.raises(ValidationError) as e:
        Mask({"size": [h, w], "counts": good.rle["counts"]}, "cell")
    msg = str(e.value)
    assert "'cell'" in msg and "'size'" in msg and f"{h}x{w}" in msg
    assert f"{arr.size} pixels" in msg  # what the RLE actually covers


def test_uncompressed_rle_of_the_wrong_size_is_rejected() -> None:
    with pytest.raises(ValidationError) as e:
        Mask({"size": [3, 3], "counts": [4, 4]}, "cell")
    assert "3x3" in str(e.value) and "counts sum to 8" in str(e.value)
    with pytest.raises(ValidationError, match="non-negative"):
        Mask({"size": [2, 2], "counts": [6, -2]}, "cell")


@pytest.mark.parametrize("counts", ["", "!!!", "zz", "PP", "\x7f", 42])
def test_mask_rejects_malformed_counts(counts: Any) -> None:
    with pytest.raises(ValidationError) as e:
        Mask({"size": [4, 4], "counts": counts}, "cell")
    assert "'cell'" in str(e.value) and "counts" in str(e.value)


@pytest.mark.parametrize("rle", [
    "52203", {"size": [4, 4]}, {"counts": "52203"}, {"size": [4], "counts": "52203"},
    {"size": [0, 4], "counts": "52203"}, {"size": ["4", "4"], "counts": "52203"},
])
def test_mask_rejects_malformed_rle(rle: Any) -> None:
    with pytest.raises(ValidationError) as e:
        Mask(rle, "cell")
    assert "'rle'" in str(e.value) or "rle 'size'" in str(e.value)


def test_mask_from_array_needs_2d() -> None:
    with pytest.raises(ValidationError, match="2-D"):
        Mask.from_array(np.zeros((2, 2, 2), bool), "cell")
    with pytest.raises(ValidationError, match="2-D"):
        Mask.from_array(np.zeros(4, bool), "cell")


def test_mask_json_with_non_mapping_rle_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="field 'rle'"):
        Region.from_json({"type": "mask", "label": "cell", "rle": "52203"})


# --- Span -----------------------------------------------------------------------------------


@PROPS
@given(texts, st.data())
def test_span_offsets_are_code_points(text: str, data: st.DataObject) -> None:
    n = len(text)
    if n == 0:
        with pytest.raises(ValidationError):
            Span(0, 1, "X").validate_against(text)
        return
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(start + 1, n))
    s = Span(start, end, "ENT")
    assert s.validate_against(text) is s
    assert s.text_in(text) == text[start:end]
    assert len(s.text_in(text)) == end - start
    # end == len(text) is the last valid end (end exclusive)
    Span(start, n, "ENT").validate_against(text)
    over = data.draw(st.integers(n + 1, n + 5))
    with pytest.raises(ValidationError) as e:
        Span(start, over, "ENT").validate_against(text)
    msg = str(e.value)
    assert "'ENT'" in msg and "field 'end'" in msg and f"({n} code points)" in msg


def test_span_counts_code_points_not_utf16_units() -> None:
    text = "😀 漢字 e\u0301"
    assert len(text) == 7  # 1 + 1 + 2 + 1 + 2 code points
    emoji = Span(0, 1, "EMOJI").validate_against(text)
    assert emoji.text_in(text) == "😀"
    # in UTF-16 the same text is one unit longer (the emoji is a surrogate pair)
    assert len(text.encode("utf-16-le")) // 2 == len(text) + 1
    Span(5, 7, "E").validate_against(text)
    with pytest.raises(ValidationError):
        Span(5, 8, "E").validate_against(text)


@pytest.mark.parametrize(("start", "end", "field"), [
    (-1, 3, "'start'"), (3, 3, "'end'"), (4, 2, "'end'"), (0.0, 2, "'start'"),
    (True, 2, "'start'"), (0, "2", "'end'"),
])
def test_span_rejects_bad_offsets(start: Any, end: Any, field: str) -> None:
    with pytest.raises(ValidationError) as e:
        Span(start, end, "PER")
    assert field in str(e.value) and "'PER'" in str(e.value)


def test_span_accepts_numpy_ints() -> None:
    s = Span(np.int64(2), np.int32(5), "PER")
    assert (s.start, s.end) == (2, 5)
    assert type(s.start) is int and type(s.end) is int
    assert orjson.loads(orjson.dumps(s.to_json()))["end"] == 5


@PROPS
@given(st.integers(0, 30), st.integers(1, 10), st.integers(0, 30), st.integers(1, 10))
def test_span_overlap_matches_index_sets(a: int, la: int, b: int, lb: int) -> None:
    s, t = Span(a, a + la, "A"), Span(b, b + lb, "B")
    shared = set(range(a, a + la)) & set(range(b, b + lb))
    assert s.overlaps(t) is bool(shared)
    assert t.overlaps(s) is bool(shared)


# --- Region.from_json dispatch and shared behaviour -------------------------------------------


@pytest.mark.parametrize("region", [
    Box(0, 0, 2, 2, "a"), Polygon((0, 0, 1, 0, 1, 1), "a"),
    Mask.from_array(np.eye(3, dtype=bool), "a"), Span(0, 2, "a"), Choice("a"),
])
def test_from_json_dispatches_on_type(region: Region) -> None:
    back = Region.from_json(region.to_json())
    assert type(back) is type(region) and back == region


def test_from_json_unknown_type_names_the_field_and_choices() -> None:
    with pytest.raises(ValidationError) as e:
        Region.from_json({"type": "circle", "label": "a"})
    msg = str(e.value)
    assert "field 'type'" in msg and "'circle'" in msg
    for t in ("box", "choice", "mask", "polygon", "span"):
        assert f"'{t}'" in msg


def test_from_json_rejects_non_objects() -> None:
    with pytest.raises(ValidationError, match="JSON object"):
        Region.from_json(["box", 0, 0, 1, 1])  # type: ignore[arg-type]


@pytest.mark.parametrize(("data", "missing"), [
    ({"type": "box", "x0": 0, "y0": 0, "x1": 1, "label": "a"}, "y1"),
    ({"type": "box", "x0": 0, "y0": 0, "x1": 1, "y1": 1}, "label"),
    ({"type": "polygon", "label": "a"}, "points"),
    ({"type": "mask", "label": "a"}, "rle"),
    ({"type": "span", "start": 0, "label": "a"}, "end"),
    ({"type": "choice"}, "label"),
])
def test_from_json_missing_field_is_named(data: dict[str, Any], missing: str) -> None:
    with pytest.raises(ValidationError) as e:
        Region.from_json(data)
    assert f"missing field '{missing}'" in str(e.value)


def test_with_label_returns_a_relabelled_copy() -> None:
    b = Box(0, 0, 2, 2, "cat", score=0.5, attributes={"occluded": True})
    d = b.with_label("dog")
    assert d.label == "dog" and b.label == "cat"
    assert isinstance(d, Box)
    assert (d.x0, d.y0, d.x1, d.y1, d.score, d.attributes) == (0, 0, 2, 2, 0.5, b.attributes)
    with pytest.raises(ValidationError):
        b.with_label("")


@pytest.mark.parametrize(("region", "field"), [
    (Box(0, 0, 1, 1, "a"), "x0"), (Polygon((0, 0, 1, 0, 1, 1), "a"), "points"),
    (Mask.from_array(np.ones((2, 2), bool), "a"), "label"), (Span(0, 1, "a"), "end"),
    (Choice("a"), "label"),
])
def test_regions_are_frozen_and_slotted(region: Region, field: str) -> None:
    before = region.to_json()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(region, field, 5)
    assert region.to_json() == before
    assert not hasattr(region, "__dict__")


def test_equal_regions_hash_equal_and_dedupe() -> None:
    m1 = Mask.from_array(np.eye(4, dtype=bool), "a")
    m2 = Mask({"size": [4, 4], "counts": runs_of(np.eye(4, dtype=bool))}, "a")
    pool = {Box(0, 0, 1, 1, "a"), Box(0.0, 0.0, 1.0, 1.0, "a"), m1, m2, Choice("a")}
    assert len(pool) == 3


def test_validation_errors_are_value_errors_and_labelnb_errors() -> None:
    with pytest.raises(ValueError):
        Box(1, 0, 0, 1, "a")
    with pytest.raises(LabelnbError):
        Span(2, 1, "a")


# --- Annotation -----------------------------------------------------------------------------


def test_annotation_defaults_and_provenance() -> None:
    before = datetime.now(UTC)
    a = Annotation(item_id=3, regions=[Box(0, 0, 4, 4, "cat"), Box(1, 1, 2, 2, "dog")])
    after = datetime.now(UTC)
    assert isinstance(a.regions, tuple) and a.labels == ["cat", "dog"]
    assert a.source == "human" and a.corrects is None
    assert a.created_at.tzinfo is not None
    assert before <= a.created_at <= after
    assert len(a.id) == 32 and int(a.id, 16) >= 0
    assert Annotation(item_id=3).id != a.id


def test_annotation_ids_are_uuid7_and_sort_by_time() -> None:
    """Ids are UUIDv7-shaped: the key index of the annotations grows at its end (the
    SQLite queue's commits depend on it), and each id still carries 74 random bits."""
    import time
    import uuid

    from labelnb.types import new_annotation_id

    first = [new_annotation_id() for _ in range(200)]
    time.sleep(0.003)
    later = new_annotation_id()
    for i in (*first, later):
        u = uuid.UUID(i)
        assert u.version == 7 and u.variant == uuid.RFC_4122 and u.hex == i
    assert len(set(first)) == len(first)
    assert all(i < later for i in first)  # a later millisecond sorts after
    ms = int(later[:12], 16)
    assert abs(ms - time.time_ns() // 1_000_000) < 5_000
    assert Annotation(item_id=1).id[12] == "7"


def test_annotation_provenance_round_trips() -> None:
    t = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    a = Annotation(item_id=np.int64(7), regions=Span(0, 3, "ORG"), author="llm:gpt",
                   source="llm", created_at=t, duration_s=2, task_id=11, schema_version=4,
                   corrects="abc", model_version="v1", client_id="c-1", meta={"k": [1, 2]})
    assert a.item_id == 7 and type(a.item_id) is int
    assert a.regions == (Span(0, 3, "ORG"),)
    assert a.duration_s == 2.0 and isinstance(a.duration_s, float)
    data = via_orjson(a.to_json())
    assert data["created_at"] == t.isoformat()
    for k, v in {"author": "llm:gpt", "source": "llm", "duration_s": 2.0, "task_id": 11,
                 "schema_version": 4, "corrects": "abc", "model_version": "v1",
                 "client_id": "c-1", "meta": {"k": [1, 2]}}.items():
        assert data[k] == v, k
    back = Annotation.from_json(data)
    assert back == a and back.created_at.utcoffset() == timedelta(hours=2)


def test_annotation_json_leaves_out_unset_fields() -> None:
    data = Annotation(item_id=1).to_json()
    for k in ("duration_s", "task_id", "schema_version", "corrects", "model_version",
              "client_id", "meta"):
        assert k not in data
    assert data["regions"] == []


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_is_accepted(source: str) -> None:
    assert Annotation(item_id=1, source=source).source == source  # type: ignore[arg-type]


def test_bad_source_is_rejected_with_the_choices() -> None:
    with pytest.raises(ValidationError) as e:
        Annotation(item_id=9, source="robot")  # type: ignore[arg-type]
    msg = str(e.value)
    assert "item 9" in msg and "field 'source'" in msg and "'robot'" in msg
    for s in SOURCES:
        assert repr(s) in msg


def test_naive_created_at_is_taken_as_utc() -> None:
    naive = datetime(2024, 1, 2, 3, 4, 5)
    a = Annotation(item_id=1, created_at=naive)
    assert a.created_at.tzinfo is not None
    assert a.created_at == naive.replace(tzinfo=UTC)
    b = Annotation(item_id=1, created_at="2024-01-02T03:04:05")  # type: ignore[arg-type]
    assert b.created_at == a.created_at
    c = Annotation(item_id=1, created_at="2024-01-02T05:04:05+02:00")  # type: ignore[arg-type]
    assert c.created_at == a.created_at


@pytest.mark.parametrize(("kw", "field"), [
    ({"created_at": "yesterday"}, "created_at"), ({"created_at": 1700000000}, "created_at"),
    ({"duration_s": -1}, "duration_s"), ({"duration_s": float("nan")}, "duration_s"),
    ({"author": ""}, "author"), ({"regions": [{"type": "box"}]}, "regions"),
])
def test_annotation_rejects_bad_fields(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as e:
        Annotation(item_id=5, **kw)
    assert f"field '{field}'" in str(e.value) and "item 5" in str(e.value)


@pytest.mark.parametrize("item_id", ["5", 5.0, True, None])
def test_annotation_item_id_must_be_an_int(item_id: Any) -> None:
    with pytest.raises(ValidationError, match="field 'item_id'"):
        Annotation(item_id=item_id)


def test_annotation_from_json_needs_an_object_with_item_id() -> None:
    with pytest.raises(ValidationError, match="missing field 'item_id'"):
        Annotation.from_json({"regions": []})
    with pytest.raises(ValidationError, match="JSON object"):
        Annotation.from_json([1, 2])  # type: ignore[arg-type]


def test_correct_makes_a_new_annotation_pointing_at_the_original() -> None:
    orig = Annotation(item_id=4, regions=(Box(0, 0, 5, 5, "cat"),), author="ana",
                      source="model", task_id=8, schema_version=2, duration_s=1.5)
    snapshot = orig.to_json()
    fixed = orig.correct([Box(0, 0, 6, 5, "cat")], author="bo", duration_s=3.0,
                         client_id="tab-2")
    assert fixed.corrects == orig.id
    assert fixed.id != orig.id
    assert fixed.item_id == orig.item_id
    assert fixed.task_id == orig.task_id and fixed.schema_version == orig.schema_version
    assert fixed.author == "bo" and fixed.source == "human"
    assert fixed.regions == (Box(0, 0, 6, 5, "cat"),)
    assert fixed.duration_s == 3.0 and fixed.client_id == "tab-2"
    assert fixed.created_at >= orig.created_at
    # the original is untouched
    assert orig.to_json() == snapshot and orig.corrects is None
    # overrides of the inherited fields win
    later = orig.correct([], author="bo", schema_version=3, source="consensus")
    assert later.schema_version == 3 and later.source == "consensus"
    assert later.corrects == orig.id


def test_correction_chain_round_trips() -> None:
    a = Annotation(item_id=1, regions=(Choice("spam"),), author="lf", source="labeling_function")
    b = a.correct([Choice("ham")], author="ana")
    c = b.correct([Choice("spam")], author="lead")
    back = [Annotation.from_json(via_orjson(x.to_json())) for x in (a, b, c)]
    assert [x.corrects for x in back] == [None, a.id, b.id]


@pytest.mark.parametrize(("field", "value"), [
    ("author", "mallory"), ("corrects", "x"), ("regions", ()), ("source", "model"),
])
def test_annotation_is_frozen(field: str, value: Any) -> None:
    a = Annotation(item_id=1, regions=(Choice("a"),), author="ana")
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(a, field, value)
    assert (a.author, a.corrects, a.regions, a.source) == ("ana", None, (Choice("a"),), "human")
