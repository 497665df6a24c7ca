"""Auto-fit: rough boxes snap tight to the object's edges."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from labelnb.segment.autofit import autofit_box, otsu_threshold
from labelnb.types import Box

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _coins import coin_boxes, iou, rough  # noqa: E402


def test_rough_boxes_around_coins_fit_tighter_than_they_were_drawn() -> None:
    img, boxes = coin_boxes()
    assert len(boxes) >= 20  # the reference segmentation found the coins
    rng = np.random.default_rng(7)
    before, after = [], []
    for gt in boxes:
        r = rough(gt, rng, 0.2, img.shape[1], img.shape[0])
        fitted, note = autofit_box(img, Box(*r, "coin"))
        assert note == ""
        before.append(iou(r, gt))
        after.append(iou((fitted.x0, fitted.y0, fitted.x1, fitted.y1), gt))
    assert np.mean(after) - np.mean(before) >= 0.05  # the target: +5 points
    assert np.median(after) >= 0.9


def test_a_bright_background_touching_the_object_does_not_swallow_the_box() -> None:
    h, w = 600, 800
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([xx * 200 // w, yy * 200 // h, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    arr[160:440, 210:590] = (235, 225, 200)
    fitted, _ = autofit_box(arr, Box(185, 130, 620, 465, "x"))
    assert (fitted.x0, fitted.y0, fitted.x1, fitted.y1) == (210, 160, 590, 440)


def test_dark_object_on_light_ground_and_label_kept() -> None:
    arr = np.full((200, 200), 230, np.uint8)
    arr[50:120, 60:150] = 20
    fitted, note = autofit_box(arr, Box(40, 35, 170, 130, "hole", attributes={"k": 1}))
    assert note == ""
    assert (fitted.x0, fitted.y0, fitted.x1, fitted.y1) == (60, 50, 150, 120)
    assert fitted.label == "hole" and fitted.attributes == {"k": 1}


@pytest.mark.parametrize("arr, box, why", [
    (np.full((100, 100), 128, np.uint8), Box(10, 10, 60, 60, "x"), "flat"),
    (np.full((100, 100), 128, np.uint8), Box(10, 10, 11, 60, "x"), "too small"),
])
def test_nothing_to_fit_returns_the_box_unchanged_with_a_reason(arr: np.ndarray, box: Box,
                                                                why: str) -> None:
    fitted, note = autofit_box(arr, box)
    assert fitted == box
    assert why in note


def test_otsu_splits_two_modes() -> None:
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(50, 5, 1000), rng.normal(200, 5, 1000)])
    assert 70 < otsu_threshold(v) < 180
