"""Box, mask and span agreement against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from labelnb.errors import ValidationError
from labelnb.metrics import (
    DegenerateWarning,
    box_agreement,
    box_iou,
    mask_dice,
    mask_iou,
    mask_iou_matrix,
    span_f1,
)
from labelnb.types import Box, Mask, Span

PROPS = settings(max_examples=80, deadline=None)


# -- boxes ------------------------------------------------------------------------------

def test_box_iou_hand_values() -> None:
    a = [Box(0, 0, 10, 10, "x"), Box(0, 0, 1, 1, "x")]
    b = [Box(5, 0, 15, 10, "x"), Box(0, 0, 10, 10, "y"), Box(20, 20, 21, 21, "x")]
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(50 / 150)
    assert iou[0, 1] == 1.0  # box_iou ignores labels
    assert iou[0, 2] == 0.0
    assert iou[1, 1] == pytest.approx(1 / 100)
    assert box_iou([], b).shape == (0, 3)


coord = st.floats(0, 100, allow_nan=False)


@st.composite
def boxes(draw: st.DrawFn) -> Box:
    x0, y0 = draw(coord), draw(coord)
    return Box(x0, y0, x0 + draw(st.floats(0.5, 50)), y0 + draw(st.floats(0.5, 50)), "b")


@PROPS
@given(a=boxes(), b=boxes())
def test_box_iou_matches_pycocotools(a: Box, b: Box) -> None:
    ref = mask_utils.iou([list(a.xywh)], [list(b.xywh)], [0])[0][0]
    assert box_iou([a], [b])[0, 0] == pytest.approx(ref, abs=1e-9)
    assert box_iou([b], [a])[0, 0] == pytest.approx(ref, abs=1e-9)


def test_box_agreement_hungarian_beats_greedy() -> None:
    # greedy (best IoU first) would pair a0-b0 (0.6) and leave a1 unmatched; the optimal
    # one-to-one assignment pairs a0-b1 and a1-b0.
    a = [Box(0, 0, 10, 10, "x"), Box(4, 0, 14, 10, "x")]
    b = [Box(2, 0, 12, 10, "x"), Box(-3, 0, 7, 10, "x")]
    r = box_agreement(a, b, iou_threshold=0.3)
    assert r.matched == 2 and r.missed == 0 and r.extra == 0
    pairs = {(i, j) for i, j, _ in r.pairs}
    assert pairs == {(0, 1), (1, 0)}
    ious = {(i, j): v for i, j, v in r.pairs}
    assert ious[(0, 1)] == pytest.approx(70 / 130)
    assert ious[(1, 0)] == pytest.approx(80 / 120)
    assert r.mean_iou == pytest.approx((70 / 130 + 80 / 120) / 2)
    assert r.precision == r.recall == r.f1 == 1.0


def test_box_agreement_labels_and_threshold() -> None:
    a = [Box(0, 0, 10, 10, "cat"), Box(20, 20, 30, 30, "dog")]
    b = [Box(0, 0, 10, 10, "dog"), Box(21, 20, 31, 30, "dog"), Box(50, 50, 51, 51, "dog")]
    r = box_agreement(a, b)
    assert (r.matched, r.missed, r.extra) == (1, 1, 2)
    assert r.pairs[0][:2] == (1, 1)
    assert r.mean_iou == pytest.approx(90 / 110)
    assert r.precision == pytest.approx(1 / 3) and r.recall == 0.5
    assert r.f1 == pytest.approx(2 / 5)
    r2 = box_agreement(a, b, match_labels=False)
    assert r2.matched == 2 and r2.mean_iou == pytest.approx((1 + 90 / 110) / 2)
    r3 = box_agreement(a, b, iou_threshold=0.95, match_labels=False)
    assert r3.matched == 1


def test_box_agreement_degenerate() -> None:
    with pytest.warns(DegenerateWarning, match="empty"):
        r = box_agreement([], [])
    assert r.mean_iou == 1.0 and r.f1 == 1.0 and r.matched == 0
    with pytest.warns(DegenerateWarning, match="no pair"):
        r = box_agreement([Box(0, 0, 1, 1, "x")], [])
    assert r.mean_iou == 0.0 and (r.missed, r.extra, r.f1) == (1, 0, 0.0)
    with pytest.warns(DegenerateWarning):
        r = box_agreement([Box(0, 0, 1, 1, "x")], [Box(5, 5, 6, 6, "x")])
    assert r.matched == 0 and r.missed == 1 and r.extra == 1
    with pytest.raises(ValidationError):
        box_agreement([], [], iou_threshold=2)
    with pytest.raises(ValidationError):
        box_agreement([(0, 0, 1, 1)], [])  # type: ignore[list-item]


# -- masks ------------------------------------------------------------------------------

def _mask(h: int, w: int, rows: slice, cols: slice, label: str = "m") -> Mask:
    a = np.zeros((h, w), bool)
    a[rows, cols] = True
    return Mask.from_array(a, label)


def test_mask_iou_and_dice_hand_values() -> None:
    a = _mask(100, 200, slice(0, 10), slice(0, 10))      # 100 px
    b = _mask(100, 200, slice(5, 15), slice(0, 10))      # 100 px, 50 shared
    assert mask_iou(a, b) == pytest.approx(50 / 150)
    assert mask_dice(a, b) == pytest.approx(100 / 200)
    assert mask_iou(a, a.rle) == 1.0  # an RLE dict works too
    assert mask_dice(a, _mask(100, 200, slice(50, 60), slice(50, 60))) == 0.0
    m = mask_iou_matrix([a, b], [b])
    assert m.shape == (2, 1) and m[0, 0] == pytest.approx(1 / 3) and m[1, 0] == 1.0
    assert mask_iou_matrix([], [a]).shape == (0, 1)


@PROPS
@given(st.data())
def test_mask_metrics_match_dense(data: st.DataObject) -> None:
    h, w = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12))
    arr = st.lists(st.booleans(), min_size=h * w, max_size=h * w)
    x = np.array(data.draw(arr)).reshape(h, w)
    y = np.array(data.draw(arr)).reshape(h, w)
    inter, union = (x & y).sum(), (x | y).sum()
    a, b = Mask.from_array(x, "m"), Mask.from_array(y, "m")
    if union == 0:
        with pytest.warns(DegenerateWarning):
            assert mask_iou(a, b) == 1.0
        with pytest.warns(DegenerateWarning):
            assert mask_dice(a, b) == 1.0
        return
    assert mask_iou(a, b) == pytest.approx(inter / union)
    assert mask_dice(a, b) == pytest.approx(2 * inter / (x.sum() + y.sum()))


def test_mask_errors() -> None:
    with pytest.raises(ValidationError, match="different sizes"):
        mask_iou(_mask(4, 4, slice(0, 1), slice(0, 1)), _mask(4, 5, slice(0, 1), slice(0, 1)))
    with pytest.raises(ValidationError):
        mask_dice({"size": [2, 2]}, {"size": [2, 2]})
    assert mask_iou({"size": [2, 2], "counts": [1, 3]}, {"size": [2, 2], "counts": [0, 4]}) \
        == pytest.approx(3 / 4)  # 3 of 4 pixels vs all 4


# -- spans ------------------------------------------------------------------------------

def test_span_f1_exact_hand_values() -> None:
    gold = [Span(0, 5, "ORG"), Span(10, 15, "LOC"), Span(20, 25, "LOC")]
    pred = [Span(0, 5, "ORG"), Span(10, 15, "LOC"), Span(21, 25, "LOC"), Span(30, 32, "PER")]
    r = span_f1(gold, pred)
    assert r.precision == pytest.approx(2 / 4) and r.recall == pytest.approx(2 / 3)
    assert r.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    pl = r.per_label
    assert list(pl.index) == ["LOC", "ORG", "PER"]
    assert pl.loc["LOC", "f1"] == pytest.approx(0.5) and pl.loc["ORG", "f1"] == 1.0
    assert pl.loc["PER", "f1"] == 0.0 and pl.loc["PER", "support"] == 0
    assert r.macro_f1 == pytest.approx((0.5 + 1.0 + 0.0) / 3)


def test_span_f1_overlap_is_one_to_one() -> None:
    gold = [Span(0, 5, "X"), Span(6, 10, "X")]
    pred = [Span(0, 10, "X")]  # overlaps both gold spans but may claim one
    r = span_f1(gold, pred, mode="overlap")
    assert r.precision == 1.0 and r.recall == 0.5
    assert span_f1(gold, pred).f1 == 0.0  # exact
    # label must agree
    assert span_f1([Span(0, 5, "X")], [Span(0, 5, "Y")], mode="overlap").f1 == 0.0


def test_span_f1_documents_and_duplicates() -> None:
    gold = [[Span(0, 3, "A")], [Span(0, 3, "A"), Span(4, 6, "B")]]
    pred = [[Span(0, 3, "A"), Span(0, 3, "A")], [Span(4, 6, "B")]]
    r = span_f1(gold, pred)
    # the duplicate prediction in doc 0 is one true and one false positive
    assert (r.per_label.loc["A", "tp"], r.per_label.loc["A", "fp"]) == (1, 1)
    assert r.precision == pytest.approx(2 / 3) and r.recall == pytest.approx(2 / 3)


def test_span_f1_degenerate() -> None:
    with pytest.warns(DegenerateWarning, match="no spans"):
        r = span_f1([], [])
    assert (r.precision, r.recall, r.f1) == (1.0, 1.0, 1.0)
    with pytest.warns(DegenerateWarning, match="no predicted"):
        r = span_f1([Span(0, 1, "A")], [])
    assert (r.precision, r.recall, r.f1) == (0.0, 0.0, 0.0)
    with pytest.warns(DegenerateWarning, match="no gold"):
        span_f1([], [Span(0, 1, "A")])
    with pytest.raises(ValidationError):
        span_f1([Span(0, 1, "A")], [Span(0, 1, "A")], mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="documents"):
        span_f1([[Span(0, 1, "A")], [Span(0, 1, "A")]], [[Span(0, 1, "A")]])
