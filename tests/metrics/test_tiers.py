"""Agreement tiers per modality."""

from __future__ import annotations

import numpy as np

from labelnb.metrics.tiers import Agreement, agree, decide, fuse
from labelnb.types import Box, Choice, Mask, Span


def test_choice_tiers() -> None:
    a, b = [Choice("x")], [Choice("y")]
    assert decide([a, a, a], "choice").tier == "unanimous"
    assert decide([a, b, a], "choice").group == (0, 2)
    assert decide([a, b, [Choice("z")]], "choice").tier == "none"
    assert agree([Choice("x"), Choice("y")], [Choice("y"), Choice("x")], "multi_choice")


def test_box_agreement_threshold() -> None:
    a = [Box(0, 0, 10, 10, "c")]
    b = [Box(1, 0, 11, 10, "c")]  # IoU 9/11
    assert agree(a, b, "boxes", Agreement(iou=0.8))
    assert not agree(a, b, "boxes", Agreement(iou=0.9))
    assert not agree(a, [Box(1, 0, 11, 10, "d")], "boxes")  # label differs
    assert not agree(a, a + b, "boxes")  # an extra box


def test_mask_dice_threshold() -> None:
    x = np.zeros((10, 10), bool)
    x[:5, :5] = True
    y = x.copy()
    y[5, :5] = True  # dice = 50/55
    mx, my = Mask.from_array(x, "m"), Mask.from_array(y, "m")
    assert agree([mx], [my], "masks", Agreement(dice=0.9))
    assert not agree([mx], [my], "masks", Agreement(dice=0.95))
    fused = fuse([[mx], [my], [mx]], "masks")
    assert np.array_equal(fused[0].to_array(), x)  # per-pixel majority


def test_span_modes() -> None:
    a, b = [Span(0, 5, "PER")], [Span(0, 4, "PER")]
    assert not agree(a, b, "spans")
    assert agree(a, b, "spans", Agreement(spans="overlap"))
    assert agree([], [], "spans")
