"""Box conversions COCO ↔ labelnb ↔ VOC ↔ YOLO round-trip (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from labelnb.formats import ImageRecord, coco, voc, yolo
from labelnb.types import Box, Polygon


@st.composite
def image_and_box(draw: st.DrawFn) -> tuple[int, int, Box]:
    w = draw(st.integers(1, 5000))
    h = draw(st.integers(1, 5000))
    fx = st.floats(0, 1, allow_nan=False)
    xa, xb = sorted((draw(fx) * w, draw(fx) * w))
    ya, yb = sorted((draw(fx) * h, draw(fx) * h))
    return w, h, Box(xa, ya, xb, yb, "cat")


def _close(a: Box, b: Box, tol: float) -> bool:
    return all(abs(x - y) <= tol for x, y in
               zip((a.x0, a.y0, a.x1, a.y1), (b.x0, b.y0, b.x1, b.y1), strict=True))


@settings(max_examples=200, deadline=None)
@given(image_and_box())
def test_coco_box_round_trip_is_exact(case: tuple[int, int, Box]) -> None:
    w, h, box = case
    d = coco.to_coco([ImageRecord(7, "a.jpg", w, h)], {7: [box]}, ["dog", "cat"])
    ann = d["annotations"][0]
    assert ann["bbox"] == list(box.xywh) and ann["category_id"] == 2
    back = coco.from_coco(d).regions[7][0]
    assert isinstance(back, Box) and _close(back, box, 1e-9 * max(w, h))


@settings(max_examples=200, deadline=None)
@given(image_and_box())
def test_voc_exact_decimals_round_trip(case: tuple[int, int, Box]) -> None:
    w, h, box = case
    xml = voc.to_voc(ImageRecord(1, "a.jpg", w, h), [box], integer=False)
    _, regs = voc.from_voc(xml)
    assert _close(regs[0], box, 1e-9 * max(w, h))  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(image_and_box())
def test_voc_integer_snaps_edges_to_the_pixel_grid(case: tuple[int, int, Box]) -> None:
    w, h, box = case
    xmin, ymin, xmax, ymax = voc.box_to_voc(box, width=w, height=h)
    assert all(float(v).is_integer() for v in (xmin, ymin, xmax, ymax))
    assert 1 <= xmin <= xmax <= w and 1 <= ymin <= ymax <= h
    _, regs = voc.from_voc(voc.to_voc(ImageRecord(1, "a.jpg", w, h), [box]))
    back = regs[0]
    assert isinstance(back, Box)
    # each edge moves by at most half a pixel, or less than one where a sub-pixel box
    # is widened to the one pixel VOC can express
    assert _close(back, box, 1.0)
    if box.width >= 1 and box.height >= 1:
        assert _close(back, box, 0.5 + 1e-9)


def test_voc_convention_on_known_boxes() -> None:
    assert voc.box_to_voc(Box(0, 0, 1, 1, "a")) == (1, 1, 1, 1)
    assert voc.box_to_voc(Box(10, 20, 110, 70, "a")) == (11, 21, 110, 70)
    assert voc.box_to_voc(Box(10.4, 20.5, 109.6, 70.49, "a")) == (11, 22, 110, 70)
    assert voc.box_to_voc(Box(3.2, 3.2, 3.3, 3.3, "a")) == (4, 4, 4, 4)  # one pixel kept
    assert voc.box_to_voc(Box(1.5, 0, 1.5, 0, "a"), width=3, height=1) == (2, 1, 2, 1)
    assert voc.box_to_voc(Box(3, 1, 3, 1, "a"), width=3, height=1) == (3, 1, 3, 1)
    assert voc.box_from_voc(11, 21, 110, 70, "a") == Box(10, 20, 110, 70, "a")


@settings(max_examples=200, deadline=None)
@given(image_and_box())
def test_yolo_box_round_trip(case: tuple[int, int, Box]) -> None:
    w, h, box = case
    text = yolo.to_yolo([box], w, h, ["dog", "cat"])
    cls, *vals = text.split()
    assert cls == "1" and all(0.0 <= float(v) <= 1.0 for v in vals)
    back = yolo.from_yolo(text, w, h, ["dog", "cat"])[0]
    # six decimals of a normalized value: at most 5e-7 of the image size per number
    assert isinstance(back, Box) and _close(back, box, 1.5e-6 * max(w, h))


@settings(max_examples=100, deadline=None)
@given(image_and_box())
def test_all_four_agree(case: tuple[int, int, Box]) -> None:
    """labelnb → COCO → labelnb → YOLO → labelnb → VOC (decimals) → labelnb."""
    w, h, box = case
    im = ImageRecord(1, "a.jpg", w, h)
    b1 = coco.from_coco(coco.to_coco([im], {1: [box]}, ["cat"])).regions[1][0]
    b2 = yolo.from_yolo(yolo.to_yolo([b1], w, h, ["cat"]), w, h, ["cat"])[0]
    b3 = voc.from_voc(voc.to_voc(im, [b2], integer=False))[1][0]
    assert isinstance(b3, Box) and _close(b3, box, 1.5e-6 * max(w, h))


def test_yolo_polygon_round_trip() -> None:
    poly = Polygon((1, 2, 30, 2, 30, 40, 1, 40), "dog")
    text = yolo.to_yolo([poly], 64, 48, ["cat", "dog"])
    assert text.startswith("1 ") and len(text.split()) == 9
    back = yolo.from_yolo(text, 64, 48, ["cat", "dog"])[0]
    assert isinstance(back, Polygon)
    assert max(abs(a - b) for a, b in zip(back.points, poly.points, strict=True)) < 1e-4
