"""PolygonAnnotator and MaskAnnotator without a browser: coordinates, masks, the wand
message, the session."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import labelnb
from labelnb.errors import SchemaError, ValidationError
from labelnb.types import Box, Mask, Polygon
from labelnb.widgets import MaskAnnotator, PolygonAnnotator
from labelnb.widgets._esm import esm_source
from labelnb.widgets._geometry import DisplayScale
from labelnb.widgets.mask import bitmap_to_runs, downscale_mask, runs_to_bitmap, upscale_mask
from labelnb.widgets.polygon import polygon_to_display, polygon_to_original

STATIC = Path(labelnb.__file__).parent / "widgets" / "static"


@pytest.mark.parametrize("name", ["labelnb.widgets.polygon", "labelnb.widgets.mask"])
def test_docstring_examples(name: str) -> None:
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted > 0


def _js_actions(const: str) -> list[str]:
    """The action names of a keymap object in polygon.js (its own and the shared ones)."""
    src = (STATIC / "polygon.js").read_text()

    def block(name: str) -> str:
        m = re.search(rf"const {name} = \{{\n(.*?)\n\}};", src, re.S)
        assert m, name
        return m.group(1)

    body = block(const).replace("...SHARED,", block("SHARED"))
    return re.findall(r"^\s*(\w+): \{ keys:", body, re.M)


@pytest.mark.parametrize(("cls", "const"), [(PolygonAnnotator, "POLYGON_ACTIONS"),
                                             (MaskAnnotator, "MASK_ACTIONS")])
def test_python_actions_are_the_js_keymap(cls: Any, const: str) -> None:
    assert sorted(cls.ACTIONS) == sorted(_js_actions(const))
    with pytest.raises(ValidationError, match="keymap action 'fly' does not exist"):
        cls(labels=["a"], keymap={"fly": "f"})
    w = cls(labels=["a"], keymap={"submit": "Ctrl+Enter"})
    assert w._keymap == {"submit": ["Ctrl+Enter"]}


def test_one_module_inlines_its_shared_imports() -> None:
    src = esm_source("polygon.js")
    assert 'from "./lib/' not in src and "class History" in src and "function paintSegment" in src
    assert PolygonAnnotator._esm == MaskAnnotator._esm == src


def _img(w: int = 1600, h: int = 1200) -> Image.Image:
    return Image.fromarray(np.zeros((h, w, 3), np.uint8))


# --- polygons -------------------------------------------------------------------------------
def test_polygon_annotations_round_trip_in_original_pixels() -> None:
    polys = [Polygon((100, 50, 700.5, 60, 650, 900, 120.25, 880), "car"),
             Polygon((0, 0, 1600, 0, 1600, 1200), "road", attributes={})]
    w = PolygonAnnotator(_img(), labels=["road", "car"], annotations=polys, max_display=800)
    assert w._item["display_width"] == 800
    assert w._polygons[0]["points"][:4] == [50.0, 25.0, 350.25, 30.0]  # display pixels
    assert w.annotations == polys


def test_polygon_from_the_browser_maps_rounds_and_clips() -> None:
    w = PolygonAnnotator(_img(), labels=["road", "car"], max_display=800)
    w._polygons = [{"type": "polygon", "label": "car",
                    "points": [10, 10.0001, 900, 10, 900, 700, 10, 700, 10, 700]}]
    (p,) = w.annotations
    # x2: display 900 is past the image (800): clipped to the original width; the
    # repeated last vertex is dropped; float noise rounded to 1/100 px
    assert p == Polygon((20, 20, 1600, 20, 1600, 1200, 20, 1200), "car")
    assert w.regions_from_msg({"regions": w._polygons}) == [p]


@given(w=st.integers(1, 4000), h=st.integers(1, 4000), m=st.integers(16, 1500), data=st.data())
def test_integer_polygons_round_trip_through_display(w: int, h: int, m: int, data: Any) -> None:
    s = DisplayScale.fit(w, h, m)
    n = data.draw(st.integers(3, 8))
    xs = data.draw(st.lists(st.integers(0, w), min_size=n, max_size=n))
    ys = data.draw(st.lists(st.integers(0, h), min_size=n, max_size=n))
    pts = [(x, y) for x, y in zip(xs, ys, strict=True)]
    dedup = [p for i, p in enumerate(pts) if i == 0 or p != pts[i - 1]]
    if len(dedup) > 1 and dedup[0] == dedup[-1]:
        dedup.pop()
    if len(dedup) < 3:
        return
    poly = Polygon(tuple(v for p in dedup for v in p), "a")
    assert polygon_to_original(s, polygon_to_display(s, poly)) == poly


def test_polygon_errors_name_the_polygon_field_and_fix() -> None:
    w = PolygonAnnotator(_img(), labels=["road", "car"], max_display=800)
    bad = [({"points": [1, 2, 3], "label": "car"}, "odd number"),
           ({"points": [1, 1, 1, 1, 5, 5], "label": "car"}, "2 distinct vertices"),
           ({"points": "1,2", "label": "car"}, "flat list"),
           ({"points": [1, "x", 3, 4, 5, 6], "label": "car"}, "numbers"),
           ({"points": [1, float("inf"), 3, 4, 5, 6], "label": "car"}, "finite"),
           ({"points": [1, 1, 3, 4, 5, 6]}, "field 'label'")]
    for data, msg in bad:
        with pytest.raises(ValidationError, match=msg) as e:
            w.polygons_from_display([data])
        assert "PolygonAnnotator polygon 0" in str(e.value)
    w._polygons = [{"points": [1, 1, 30, 4, 5, 60], "label": "bus"}]
    with pytest.raises(SchemaError, match="label 'bus' is not in the schema"):
        w.annotations  # noqa: B018
    with pytest.raises(ValidationError, match="expected a Polygon, got Box"):
        w.annotations = [Box(0, 0, 5, 5, "car")]  # type: ignore[list-item]
    with pytest.raises(SchemaError, match="outside the image"):
        w.annotations = [Polygon((0, 0, 2000, 0, 0, 10), "car")]
    with pytest.raises(ValidationError, match="no image is loaded"):
        PolygonAnnotator(labels=["a"]).annotations = [Polygon((0, 0, 1, 0, 0, 1), "a")]


def test_polygon_suggestions_take_boxes_and_skip_other_classes() -> None:
    w = PolygonAnnotator(_img(), labels=["road", "car"], max_display=800,
                         suggestions=[Box(100, 100, 300, 200, "car", score=0.9),
                                      Polygon((0, 0, 50, 0, 0, 50), "cow"),
                                      Polygon((0, 0, 50, 0, 0, 50), "road")])
    assert w.suggestions == [
        Polygon((100, 100, 300, 100, 300, 200, 100, 200), "car", score=0.9),
        Polygon((0, 0, 50, 0, 0, 50), "road")]
    assert w._suggestions[0]["points"] == [50, 50, 150, 50, 150, 100, 50, 100]


# --- mask bitmaps ---------------------------------------------------------------------------
@given(st.integers(1, 30), st.integers(1, 30), st.data())
def test_runs_round_trip(h: int, w: int, data: Any) -> None:
    bits = data.draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w))
    bm = np.array(bits, bool).reshape(h, w)
    runs = np.frombuffer(bitmap_to_runs(bm), "<u4")
    assert int(runs.sum()) == h * w and (runs[1:-1] > 0).all()
    assert (runs_to_bitmap(bitmap_to_runs(bm), h, w) == bm).all()


def test_runs_of_the_wrong_size_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"cover 6 pixels but the display image is 4x2"):
        runs_to_bitmap(np.array([2, 4], "<u4").tobytes(), 2, 4, where="mask 3")
    with pytest.raises(ValidationError, match="uint32 run lengths"):
        runs_to_bitmap(b"abc", 1, 1)


def test_down_and_upscaling() -> None:
    full = np.zeros((12, 16), bool)
    full[0:6, 0:8] = True
    small = downscale_mask(full, 3, 4)  # 4x4 blocks: area average, then >= 1/2
    assert small[0, :2].all() and not small[:, 2:].any() and not small[2].any()
    assert (upscale_mask(downscale_mask(full, 6, 8), 12, 16) == full).all()


# --- masks ----------------------------------------------------------------------------------
def _disk(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    out: np.ndarray = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r
    return out


def test_mask_annotations_round_trip_exactly_at_full_resolution() -> None:
    m1 = Mask.from_array(_disk(1200, 1600, 400.3, 300.7, 101.2), "coin")
    m2 = Mask.from_array(_disk(1200, 1600, 1000, 800, 3), "coin")  # ~1.5 display px across
    w = MaskAnnotator(_img(), labels=["coin", "hole"], annotations=[m1, m2], max_display=800)
    assert [o["label"] for o in w._masks] == ["coin", "coin"]
    assert isinstance(w._masks[0]["runs"], bytes)  # binary, never base64
    disp = runs_to_bitmap(w._masks[0]["runs"], 600, 800)
    assert abs(int(disp.sum()) - m1.area / 4) < 0.02 * m1.area / 4
    assert w.annotations == [m1, m2]  # not resampled: the full-resolution pixels


def test_a_painted_mask_is_upscaled_and_an_edit_keeps_untouched_pixels() -> None:
    w = MaskAnnotator(_img(), labels=["coin", "hole"], max_display=800)
    disp = _disk(600, 800, 200, 150, 40)
    w._masks = [{"id": "a", "label": "hole", "runs": bitmap_to_runs(disp)}]
    (m,) = w.annotations
    assert m.size == (1200, 1600) and m.label == "hole"
    assert m.area == 4 * int(disp.sum())
    # a full-resolution mask, edited in the browser: only the edited display pixels change
    fine = Mask.from_array(_disk(1200, 1600, 800.3, 600.6, 150.7), "coin")
    w.annotations = [fine]
    obj = dict(w._masks[0])
    edited = runs_to_bitmap(obj["runs"], 600, 800).copy()
    edited[300:310, 250:500] = False  # an eraser stroke across the middle
    w._masks = [{**obj, "runs": bitmap_to_runs(edited)}]
    (got,) = w.annotations
    g, f = got.to_array(), fine.to_array()
    outside = np.ones_like(f)
    outside[600:620, 500:1000] = False
    assert (g[outside] == f[outside]).all()  # pixel-exact where the eraser did not go
    assert f[600:620, 500:1000].sum() > 5000
    # erased, but for fine pixels under display pixels that were (and stay) off
    assert g[600:620, 500:1000].sum() < 10


def test_empty_objects_are_left_out_and_labels_are_checked() -> None:
    w = MaskAnnotator(_img(), labels=["coin"], max_display=800)
    w._masks = [{"id": "e", "label": "coin", "runs": bitmap_to_runs(np.zeros((600, 800), bool))}]
    assert w.annotations == []
    w._masks = [{"id": "x", "label": "cow", "runs": bitmap_to_runs(np.ones((600, 800), bool))}]
    with pytest.raises(SchemaError, match="label 'cow' is not in the schema"):
        w.annotations  # noqa: B018
    w._masks = [{"id": "y", "label": "coin", "runs": b"\x01\x00\x00\x00"}]
    with pytest.raises(ValidationError, match="MaskAnnotator mask 0: the runs cover 1 pixels"):
        w.annotations  # noqa: B018
    w._masks = [{"id": "z", "label": "coin"}]
    with pytest.raises(ValidationError, match="missing field 'runs'"):
        w.annotations  # noqa: B018
    with pytest.raises(ValidationError, match="encode the mask at image size"):
        w.annotations = [Mask.from_array(np.ones((10, 10), bool), "coin")]


def test_polygons_are_rasterized_for_the_mask_widget() -> None:
    sq = Polygon((100, 100, 300, 100, 300, 200, 100, 200), "coin")
    w = MaskAnnotator(_img(), labels=["coin"], annotations=[sq], suggestions=[sq, Box(
        0, 0, 5, 5, "coin")], max_display=800)
    (m,) = w.annotations
    assert m.area == 200 * 100 and m.bbox == Box(100, 100, 300, 200, "coin")
    assert len(w.suggestions) == 1  # a box is no mask suggestion


class Front:
    """Stands in for the browser: records what Python sends, sends what JS would."""

    def __init__(self, widget: Any) -> None:
        self.w = widget
        self.sent: list[tuple[dict[str, Any], list[bytes]]] = []
        widget.send = lambda content, buffers=None: self.sent.append((content, buffers or []))

    def msg(self, buffers: list[bytes] | None = None, **content: Any) -> None:
        self.w._handle_custom_msg(content, buffers or [])


def test_the_wand_message_round_trip_in_original_pixels() -> None:
    calls: list[tuple[Any, ...]] = []
    fine = _disk(1200, 1600, 801, 601, 200.4)

    def fake_segment(image: np.ndarray, points: np.ndarray, labels: np.ndarray,
                     box: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        calls.append((image.shape, image.dtype, points.copy(), labels.copy(), box))
        return np.stack([fine, ~fine, np.zeros_like(fine)]), np.array([0.2, 0.9, 0.5])

    w = MaskAnnotator(_img(), labels=["coin"], max_display=800, segment_fn=fake_segment)
    front = Front(w)
    _wand_at_original_scale(front, w.item_key, 7, calls)
    (reply, bufs), = front.sent
    assert reply["type"] == "wand" and reply["seq"] == 7 and reply["key"] == w.item_key
    # best first; the empty candidate is left out
    assert reply["scores"] == [0.9, 0.2] and len(bufs) == 2
    assert all(isinstance(b, bytes) for b in bufs)
    shown = runs_to_bitmap(bufs[1], 600, 800)
    assert (shown == downscale_mask(fine, 600, 800)).all()
    # the browser accepts candidate 1 (the disk) as a new object: full resolution kept
    w._masks = [{"id": "n1", "label": "coin", "runs": bufs[1], "wand": [reply["req"], 1]}]
    (m,) = w.annotations
    assert (m.to_array() == fine).all()
    # a stale request (another item shown) gets no answer
    front.msg(type="wand", key="old", seq=8, points=[[1, 1]], labels=[1])
    assert len(front.sent) == 1 and len(calls) == 1


@pytest.mark.parametrize("widget", [MaskAnnotator, PolygonAnnotator])
def test_a_failing_segment_fn_is_reported_in_the_widget(widget: Any) -> None:
    def broken(image: np.ndarray, points: np.ndarray, labels: np.ndarray,
               box: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        raise RuntimeError("no GPU today")

    def wrong_shape(image: np.ndarray, points: np.ndarray, labels: np.ndarray,
                    box: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        return np.ones((1, 5, 5), bool), np.ones(1)

    for fn, text in [(broken, "RuntimeError: no GPU today"), (wrong_shape, "(K, 120, 160)")]:
        w = widget(_img(160, 120), labels=["coin"], segment_fn=fn)
        front = Front(w)
        front.msg(type="wand", key=w.item_key, seq=1, points=[[5, 5]], labels=[1], box=None)
        (reply, bufs), = front.sent
        assert text in reply["error"] and reply["seq"] == 1 and not bufs
        assert "polygons" not in reply  # an error, not an empty answer
    front.msg(type="wand", key=w.item_key, seq=2, points=[[5, 5]], labels=[3])
    assert "1 (positive) or 0 (negative)" in front.sent[-1][0]["error"]
    with pytest.raises(ValidationError, match="must be callable"):
        widget(labels=["a"], segment_fn="sam")


def test_the_default_wand_on_coins_through_the_widget() -> None:
    skimage = pytest.importorskip("skimage")
    coins = skimage.data.coins()
    w = MaskAnnotator(coins, labels=["coin"], max_display=200)  # shown downscaled
    s = w.scale
    assert s is not None and s.display_width == 200
    # the coin around (154, 127) in original pixels, clicked in display pixels
    (best, *_) = w.segment(points=[(154 / s.sx, 127 / s.sy)], labels=[1])
    assert best.size == coins.shape and best.label == "coin" and best.score is not None
    assert 900 < best.area < 1300 and best.bbox.x0 > 120 and best.bbox.x1 < 190
    assert w.last_wand_ms is not None and w.last_wand_ms > 0


# --- the polygon widget's wand --------------------------------------------------------------
def _bbox(flat: list[float]) -> tuple[float, float, float, float]:
    xs, ys = flat[0::2], flat[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def test_polygon_wand_message_sends_outlines_in_display_pixels() -> None:
    cx, cy, r = 700.0, 500.0, 180.0
    disc = _disk(1200, 1600, cx, cy, r)
    img = np.full((1200, 1600, 3), 25, np.uint8)
    img[disc] = (235, 220, 200)  # a bright disc on a dark background
    w = PolygonAnnotator(img, labels=["coin"], max_display=800)  # the default ClassicalWand
    s = w.scale
    assert s is not None and (s.display_width, s.display_height) == (800, 600)
    front = Front(w)
    front.msg(type="wand", key=w.item_key, seq=3, points=[[cx / 2, cy / 2]], labels=[1],
              box=None)
    (reply, bufs), = front.sent
    assert reply["type"] == "wand" and reply["key"] == w.item_key and reply["seq"] == 3
    assert "error" not in reply and bufs == []  # outlines travel as JSON, not buffers
    polys = reply["polygons"]
    assert 1 <= len(polys) <= w.max_candidates and len(reply["scores"]) == len(polys)
    assert reply["scores"] == sorted(reply["scores"], reverse=True)  # best first
    best = polys[0]
    assert len(best) % 2 == 0 and 8 <= len(best) // 2 <= w.WAND_MAX_VERTICES  # editable
    # display pixels: inside the 800x600 display image, and half the original size
    x0, y0, x1, y1 = _bbox(best)
    assert 0 <= x0 < x1 <= 800 and 0 <= y0 < y1 <= 600
    ox0, oy0, ox1, oy1 = x0 * s.sx, y0 * s.sy, x1 * s.sx, y1 * s.sy
    for got, want in [(ox0, cx - r), (oy0, cy - r), (ox1, cx + r), (oy1, cy + r)]:
        assert abs(got - want) <= 3, (ox0, oy0, ox1, oy1)
    # the browser accepts it as a normal polygon: back in original pixels
    w._polygons = [{"type": "polygon", "points": best, "label": "coin"}]
    (p,) = w.annotations
    assert p.label == "coin" and p.score is None
    assert abs(p.bbox.x0 - (cx - r)) <= 3 and abs(p.bbox.x1 - (cx + r)) <= 3
    assert abs(p.area - disc.sum()) < 0.02 * disc.sum()
    # segment() gives the same outlines, in original pixels
    (q, *_) = w.segment(points=[(cx / 2, cy / 2)], labels=[1])
    assert q.label == "coin" and q.score == reply["scores"][0]
    assert np.allclose(q.points, [v * (s.sx if i % 2 == 0 else s.sy) for i, v in enumerate(best)])
    # a request about an item that is no longer shown gets no answer
    front.msg(type="wand", key="old", seq=4, points=[[1, 1]], labels=[1])
    assert len(front.sent) == 1


def test_polygon_wand_maps_prompts_to_the_original_and_keeps_the_best() -> None:
    calls: list[tuple[Any, ...]] = []
    square = np.zeros((1200, 1600), bool)
    square[100:300, 200:600] = True
    disc = _disk(1200, 1600, 801, 601, 200.4)

    def fake_segment(image: np.ndarray, points: np.ndarray, labels: np.ndarray,
                     box: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        calls.append((image.shape, image.dtype, points.copy(), labels.copy(), box))
        return (np.stack([square, np.zeros_like(square), disc, square | disc]),
                np.array([0.2, 0.99, 0.9, 0.1]))

    w = PolygonAnnotator(_img(), labels=["coin", "hole"], max_display=800,
                         segment_fn=fake_segment, max_candidates=2)
    w.current_label = "hole"
    front = Front(w)
    _wand_at_original_scale(front, w.item_key, 9, calls)
    (reply, _), = front.sent
    # best first, the empty one left out, at most max_candidates
    assert reply["scores"] == [0.9, 0.2] and len(reply["polygons"]) == 2
    assert _bbox(reply["polygons"][1]) == (100, 50, 300, 150)  # the square, display pixels
    assert w.segment(points=[(400, 300)], labels=[1])[1] == Polygon(
        (200, 100, 600, 100, 600, 300, 200, 300), "hole", score=0.2)


def test_polygon_wand_outlines_stay_editable() -> None:
    comb = np.zeros((600, 800), bool)
    comb[100:300, 100:700] = True
    comb[300:340, 100:700:4] = True  # 150 teeth, 600 corners at full detail
    w = PolygonAnnotator(np.zeros((600, 800, 3), np.uint8), labels=["comb"])
    assert w.scale is not None and w.scale.sx == 1
    p = w.wand_polygon(comb, 0.5)
    assert 3 <= len(p.points) // 2 <= w.WAND_MAX_VERTICES and p.score == 0.5
    assert p.bbox.xywh == (100, 100, 600, 240)
    w.WAND_MAX_VERTICES = 20  # type: ignore[misc]
    assert len(w.wand_polygon(comb).points) // 2 <= 20


def test_polygon_wand_errors_are_clear() -> None:
    with pytest.raises(ValidationError, match=r"PolygonAnnotator: field 'segment_fn' must be "
                                              r"callable as segment_fn\(image, points"):
        PolygonAnnotator(labels=["a"], segment_fn="sam")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'max_candidates' must be an integer >= 1"):
        PolygonAnnotator(labels=["a"], max_candidates=0)
    with pytest.raises(ValidationError, match="PolygonAnnotator: no image is loaded"):
        PolygonAnnotator(labels=["a"]).segment(points=[(1, 1)], labels=[1])


# --- bound to the queue ---------------------------------------------------------------------
def _project(tmp_path: Path, kind: str) -> labelnb.Project:
    paths = []
    for i in range(2):
        arr = np.full((1200, 1600, 3), 40 + 30 * i, np.uint8)
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(arr).save(paths[-1])
    p = labelnb.Project.create(tmp_path / "p.db", "p", labelnb.Schema(kind, ["coin", "hole"]))
    p.add_items([str(x) for x in paths])
    return p


def test_bound_polygons_submit_in_original_pixels(tmp_path: Path) -> None:
    p = _project(tmp_path, "polygons")
    ids = p.items()["id"].tolist()
    p.add_predictions("m1", {ids[0]: [Polygon((10, 10, 100, 10, 50, 90), "hole", score=0.7)]})
    w = p.annotate("ana", max_display=800)
    assert isinstance(w, PolygonAnnotator)
    assert w.suggestions == [Polygon((10, 10, 100, 10, 50, 90), "hole", score=0.7)]
    front = Front(w)
    front.msg(type="submit", key=w.item_key, client_id="c1", duration_s=2.0,
              regions=[{"type": "polygon", "label": "coin", "points": [10, 20, 110, 20, 60, 90]}])
    assert [m["client_id"] for m, _ in front.sent if m["type"] == "ack"] == ["c1"]
    (ann,) = p.annotation_objects(annotator="ana")
    assert ann.regions == (Polygon((20, 40, 220, 40, 120, 180), "coin"),)
    front.msg(type="submit", key=w.item_key, client_id="c2",
              regions=[{"type": "polygon", "label": "cow", "points": [1, 2, 11, 2, 6, 9]}])
    assert "not in the schema" in w._message and w.session.done == 1


def test_bound_masks_submit_their_buffers(tmp_path: Path) -> None:
    p = _project(tmp_path, "masks")
    w = p.annotate("ana", max_display=800)
    assert isinstance(w, MaskAnnotator)
    front = Front(w)
    disp = _disk(600, 800, 300, 200, 50)
    front.msg(type="submit", key=w.item_key, client_id="m1", duration_s=1.0,
              regions=[{"id": "o1", "label": "coin"}], buffers=[bitmap_to_runs(disp)])
    assert [m["client_id"] for m, _ in front.sent if m["type"] == "ack"] == ["m1"]
    assert w.session.done == 1
    (ann,) = p.annotation_objects(annotator="ana")
    (m,) = ann.regions
    assert isinstance(m, Mask) and m.size == (1200, 1600) and m.area == 4 * int(disp.sum())
    # one buffer per mask, or a clear error
    front.msg(type="submit", key=w.item_key, client_id="m2",
              regions=[{"id": "o1", "label": "coin"}], buffers=[])
    assert "1 masks but 0 bitmaps" in w._message and w.session.done == 1


def _wand_at_original_scale(front: Any, key: str, seq: int, calls: list[Any]) -> None:
    """A wand click, Shift+click and box in display pixels (the 1600x1200 image shown at
    800x600) reach the segmenter once, in the original image's pixels."""
    front.msg(type="wand", key=key, seq=seq, points=[[400, 300], [10.5, 20]],
              labels=[1, 0], box=[100, 50, 700, 550])
    (shape, dtype, pts, labs, box), = calls
    assert shape == (1200, 1600, 3) and dtype == np.uint8  # the ORIGINAL image
    assert pts.tolist() == [[800, 600], [21, 40]] and labs.tolist() == [1, 0]
    assert box.tolist() == [200, 100, 1400, 1100]


def test_an_accepted_polygon_suggestion_in_a_mask_widget_counts_as_accepted(
        tmp_path: Path) -> None:
    """The mask widget shows a polygon prediction filled; accepted unchanged, it comes
    back as that mask, which the provenance compared with the polygon: 'changed'."""
    img = tmp_path / "a.png"
    _img(240, 200).save(img)
    p = labelnb.Project.create(tmp_path / "m.db", "m", labelnb.Schema("masks", ["cat", "dog"]))
    [i] = p.add_items([str(img)])
    p.add_predictions("m1", {i: [Polygon((30.3, 20.2, 190.4, 20, 190, 160.1, 30, 160), "cat",
                                         score=0.9)]})
    w = p.annotate("ana", model_version="m1", prefetch=False)
    assert w.suggestions[0].score == 0.9  # the score survives the display round trip
    objs = [dict(o) for o in w._suggestions]
    bufs = [o.pop("runs") for o in objs]
    w._handle_custom_msg({"type": "submit", "key": w.item_key, "client_id": "c1",
                          "regions": objs}, bufs)
    meta = p.annotations()["meta"][0]["prelabel"]
    assert (meta["outcome"], meta["accepted_unchanged"], meta["not_used"]) == ("accepted", 1, 0)


def test_a_mask_submit_with_a_bad_region_or_bitmap_is_refused() -> None:
    """A region that is not an object was dropped (an empty annotation was stored); a
    bitmap that is not bytes was a bare TypeError."""
    w = MaskAnnotator(_img(40, 30), labels=["cat"])
    with pytest.raises(ValidationError, match="region 0 is str, not an object"):
        w.regions_from_msg({"regions": ["x"], "buffers": [b""]})
    with pytest.raises(ValidationError, match="bitmap 0 is str, not the run-length bytes"):
        w.regions_from_msg({"regions": [{"id": "m1", "label": "cat"}], "buffers": ["abc"]})
