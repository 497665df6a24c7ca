"""The classical magic wand (labelnb.segment.wand) and the segment_fn hook's contract."""

from __future__ import annotations

import doctest
import importlib
from typing import Any

import numpy as np
import pytest

from labelnb.errors import ValidationError
from labelnb.segment import ClassicalWand, SegmentFn, check_segment_output


@pytest.mark.parametrize("name", ["labelnb.segment", "labelnb.segment.protocol",
                                  "labelnb.segment.wand"])
def test_docstring_examples(name: str) -> None:
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted > 0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture(scope="module")
def coins() -> tuple[np.ndarray, list[tuple[float, float, np.ndarray]]]:
    """skimage's coins as RGB, and a reference segmentation made another way: a global
    Otsu threshold, opening, holes filled, connected components (skimage.measure).
    Only clean coins are kept: solid, of coin size, not cut by the image border."""
    skimage = pytest.importorskip("skimage")
    from scipy import ndimage as ndi
    from skimage import filters, measure

    im = skimage.data.coins()
    fg = im > filters.threshold_otsu(im)
    fg = ndi.binary_fill_holes(ndi.binary_opening(fg, structure=np.ones((5, 5), bool)))
    lab = measure.label(fg)
    refs = []
    for r in measure.regionprops(lab):
        y0, x0, y1, x1 = r.bbox
        if (800 < r.area < 3000 and r.solidity > 0.93 and y0 > 0 and x0 > 0
                and y1 < im.shape[0] and x1 < im.shape[1]):
            cy, cx = r.centroid
            refs.append((cx + 0.5, cy + 0.5, lab == r.label))
    assert len(refs) >= 12  # the reference itself is sane
    return np.stack([im] * 3, axis=-1), refs


def test_a_click_on_a_coin_gives_that_coin(coins: Any) -> None:
    rgb, refs = coins
    wand = ClassicalWand()
    ious = []
    for x, y, ref in refs:
        masks, scores = wand(rgb, np.array([[x, y]]), np.array([1]), None)
        assert masks.dtype == bool and masks.shape[1:] == rgb.shape[:2]
        assert len(masks) == len(scores) >= 1
        assert np.all(np.diff(scores) <= 0) and np.all((scores >= 0) & (scores <= 1))
        ious.append(_iou(masks[0], ref))  # the best-scored candidate
    assert min(ious) >= 0.8, ious
    assert float(np.mean(ious)) >= 0.9, ious


def test_candidates_differ_and_the_best_is_not_a_leak(coins: Any) -> None:
    rgb, refs = coins
    x, y, ref = refs[0]
    masks, scores = ClassicalWand()(rgb, np.array([[x, y]]), np.array([1]), None)
    assert len(masks) >= 2  # several tolerances, duplicates dropped
    for i in range(len(masks)):
        for j in range(i):
            assert _iou(masks[i], masks[j]) <= 0.97
    assert masks[0].sum() < 3 * ref.sum()


def test_a_negative_click_excludes_a_region(coins: Any) -> None:
    from scipy import ndimage as ndi

    rgb, refs = coins
    x, y, ref = refs[1]
    leaky = ClassicalWand(tolerances=(0.35,))  # one tolerance so high it floods the background
    (m,), _ = leaky(rgb, np.array([[x, y]]), np.array([1]), None)
    assert _iou(m, ref) < 0.3  # leaked into the background
    # a negative click on the leak: the leaked pixel nearest the coin, 12+ px outside it
    dist = ndi.distance_transform_edt(~ref)
    ys, xs = np.nonzero(m & (dist >= 12))
    k = int(np.argmin(dist[ys, xs]))
    neg = (xs[k] + 0.5, ys[k] + 0.5)
    masks, _ = leaky(rgb, np.array([[x, y], neg]), np.array([1, 0]), None)
    cut = masks[0]
    assert not cut[int(neg[1]), int(neg[0])]
    assert cut[int(y), int(x)]
    assert cut.sum() < m.sum() / 4
    assert _iou(cut, ref) >= 0.75


def test_a_box_alone_segments_the_object_inside(coins: Any) -> None:
    rgb, refs = coins
    _, _, ref = refs[2]
    ys, xs = np.nonzero(ref)
    box = np.array([xs.min() - 4, ys.min() - 4, xs.max() + 5, ys.max() + 5], float)
    masks, scores = ClassicalWand()(rgb, np.zeros((0, 2)), np.zeros(0, int), box)
    assert len(masks) >= 1
    best = masks[0]
    assert _iou(best, ref) >= 0.8
    outside = np.ones_like(best)
    outside[int(box[1]):int(box[3]), int(box[0]):int(box[2])] = False
    assert not (best & outside).any()  # nothing outside the box


def test_nothing_to_segment_gives_no_candidates() -> None:
    img = np.zeros((20, 30, 3), np.uint8)
    masks, scores = ClassicalWand()(img, np.array([[3.0, 3.0]]), np.array([0]), None)
    assert masks.shape == (0, 20, 30) and scores.shape == (0,)
    masks, _ = ClassicalWand()(img, np.zeros((0, 2)), np.zeros(0, int), np.array([5, 5, 6, 6]))
    assert masks.shape == (0, 20, 30)  # a box too small to hold anything


def test_large_images_keep_a_pixel_accurate_boundary() -> None:
    """Downscaled for the flood fill, refined at full resolution along the boundary."""
    rng = np.random.default_rng(0)
    h, w = 2000, 3000
    img = rng.integers(20, 60, (h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    disk = (xx - 1400.5) ** 2 + (yy - 900.5) ** 2 <= 500 ** 2
    img[disk] = rng.integers(180, 220, (int(disk.sum()), 3), dtype=np.uint8)
    wand = ClassicalWand(max_side=512)
    masks, _ = wand(img, np.array([[1400.0, 900.0]]), np.array([1]), None)
    best = masks[0]
    assert _iou(best, disk) >= 0.995
    # at 512 px the working pixel is ~6 original pixels: an error of a working pixel
    # along the boundary would cost far more than this
    assert int((best ^ disk).sum()) < 0.002 * int(disk.sum())


def test_is_a_segment_fn_and_checks_its_input() -> None:
    wand = ClassicalWand()
    assert isinstance(wand, SegmentFn)
    img = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValidationError, match="one label"):
        wand(img, np.array([[1.0, 1.0]]), np.array([1, 0]), None)
    with pytest.raises(ValidationError, match=r"\[x0, y0, x1, y1\]"):
        wand(img, np.array([[1.0, 1.0]]), np.array([1]), np.array([1.0, 2.0]))
    with pytest.raises(ValidationError, match="tolerances"):
        ClassicalWand(tolerances=(0.1, 2.0))
    with pytest.raises(ValidationError, match=r"point 1 \(50, 3\) lies outside the 10x10 image"):
        wand(img, np.array([[1.0, 1.0], [50.0, 3.0]]), np.array([1, 1]), None)


def test_float_images_and_a_box_without_points(coins: Any) -> None:
    """A float image in [0, 1] segments as its 8-bit self (it was read as near-black
    noise and gave the whole image); points=None with a box, as SAM takes it."""
    rgb, refs = coins
    x, y, ref = refs[2]
    wand = ClassicalWand()
    as_int, _ = wand(rgb, np.array([[x, y]]), np.array([1]), None)
    as_float, _ = wand(rgb / 255.0, np.array([[x, y]]), np.array([1]), None)
    assert _iou(as_float[0], as_int[0]) >= 0.95 and _iou(as_float[0], ref) >= 0.8
    ys, xs = np.nonzero(ref)
    box = np.array([xs.min() - 4, ys.min() - 4, xs.max() + 5, ys.max() + 5], float)
    masks, _ = wand(rgb, None, None, box)
    assert _iou(masks[0], ref) >= 0.8


def test_check_segment_output_names_the_fix() -> None:
    m, s = check_segment_output(np.ones((5, 4), np.uint8), [1.3], height=5, width=4)
    assert m.shape == (1, 5, 4) and m.dtype == bool and s.tolist() == [1.0]
    with pytest.raises(ValidationError, match=r"expected \(K, 5, 4\)"):
        check_segment_output(np.ones((1, 4, 5)), [0.5], height=5, width=4)
    with pytest.raises(ValidationError, match="one score per mask"):
        check_segment_output(np.ones((2, 5, 4)), [0.5], height=5, width=4)
    with pytest.raises(ValidationError, match="not finite"):
        check_segment_output(np.ones((1, 5, 4)), [float("nan")], height=5, width=4)
