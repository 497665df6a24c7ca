"""Agreement tiers per modality."""

from __future__ import annotations

import numpy as np

from labelnb.metrics.tiers import Agreement, agree, decide, fuse
from labelnb.types import Box, Choice, Mask, Polygon, Span


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


def test_masks_projects_compare_their_polygons_too() -> None:
    """A masks project takes polygons as well: they were left out of the comparison, so
    two annotators' disjoint polygons 'agreed' (on nothing) and the consensus was empty."""
    left = [Polygon((2, 2, 20, 2, 20, 20), "x")]
    right = [Polygon((40, 30, 58, 30, 58, 38), "x")]
    assert not agree(left, right, "masks")
    assert decide([left, right], "masks").tier == "none"
    assert agree(left, [Polygon((2, 2, 20, 2, 20, 20.5), "x")], "masks")
    # a polygon against a mask of the same pixels: filled at the mask's (image's) size
    m = np.zeros((40, 60), bool)
    m[2:20, 2:20] = True
    square = [Polygon((2, 2, 20, 2, 20, 20, 2, 20), "x")]
    assert agree(square, [Mask.from_array(m, "x")], "masks", Agreement(dice=0.95))
    fused = fuse([square, [Mask.from_array(m, "x")]], "masks")
    assert isinstance(fused[0], Mask) and fused[0].size == (40, 60)
    assert fuse([left, left], "masks") == left  # polygons only: the reference's, unchanged


def test_fused_regions_are_plain_and_keep_the_reference_attributes() -> None:
    """Fused masks carried the consensus internals (score, attributes {'votes': n}) into
    the stored annotation, which the schema refused; fused boxes lost their attributes."""
    m = np.zeros((10, 10), bool)
    m[:5, :5] = True
    a = Mask.from_array(m, "m", attributes={"part": "head"})
    b = Mask.from_array(m, "m")
    [fused] = fuse([[a], [b]], "masks")
    assert fused.score is None and fused.attributes == {"part": "head"}
    boxes = fuse([[Box(0, 0, 10, 10, "c", attributes={"occluded": True}, score=0.9)],
                  [Box(1, 0, 11, 10, "c")]], "boxes")
    assert boxes == [Box(0.5, 0, 10.5, 10, "c", attributes={"occluded": True})]


def test_matching_counts_every_pair_that_reaches_the_threshold() -> None:
    """The Hungarian step maximised the total IoU first and applied the threshold after:
    here the best total (0.78 + 0.44) kept one pair although a pairing with two pairs at
    or above 0.5 exists (0.5 + 0.7); agreement, F1 and the tier came out wrong."""
    from labelnb.metrics import box_agreement

    a = [Box(13, 0, 21, 10, "c"), Box(10, 0, 19, 10, "c")]
    b = [Box(12, 0, 20, 10, "c"), Box(13, 0, 17, 10, "c")]
    r = box_agreement(a, b)
    assert (r.matched, r.missed, r.extra, r.f1) == (2, 0, 0, 1.0)
    assert sorted((i, j) for i, j, _ in r.pairs) == [(0, 1), (1, 0)]
    assert agree(a, b, "boxes") and decide([a, b, a], "boxes").tier == "unanimous"
    # masks: the same rule at the Dice threshold
    def m(x0: int, x1: int) -> Mask:
        arr = np.zeros((10, 30), bool)
        arr[:, x0:x1] = True
        return Mask.from_array(arr, "c")

    assert agree([m(13, 21), m(10, 19)], [m(12, 20), m(13, 17)], "masks",
                 Agreement(dice=0.65))  # the best total (0.875, 0.615) keeps one


def test_the_agreeing_group_agrees_pair_by_pair_in_any_order() -> None:
    """Greedy grouping compared each annotator with a group's first member only: with A
    agreeing with B and B with C, but not A with C, [B, A, C] was unanimous and
    [A, B, C] a majority, and the tier of five annotations depended on who came first."""
    import itertools

    a, b, c = ([Box(x, 0, x + 10, 10, "c")] for x in (6, 3, 0))
    d, e = [Box(0, 0, 10, 10, "c")], [Box(50, 50, 60, 60, "c")]
    for order in itertools.permutations([a, b, c]):
        got = decide(list(order), "boxes")
        assert got.tier == "majority" and got.confidence == 2 / 3
    seen = set()
    for perm in itertools.permutations(range(5)):
        anns = [[a, b, c, d, e][i] for i in perm]
        got = decide(anns, "boxes")
        seen.add((got.tier, got.confidence))
        members = [perm[i] for i in got.group]
        assert sorted(members) == [1, 2, 3]  # b, c, d: the three that all agree
    assert seen == {("majority", 0.6)}


def test_unanimous_means_every_pair_agrees() -> None:
    chain = [[Box(x, 0, x + 10, 10, "c")] for x in (0, 3, 6)]  # neighbours agree, ends not
    assert decide(chain, "boxes").tier == "majority"
    same = [[Box(0, 0, 10, 10, "c")], [Box(1, 0, 11, 10, "c")], [Box(0, 1, 10, 11, "c")]]
    assert decide(same, "boxes").tier == "unanimous"


def test_many_annotators_fall_back_to_an_order_free_greedy_group() -> None:
    many = [[Choice("cat")]] * 9 + [[Choice("dog")]] * 8
    got = decide(many, "choice")
    assert got.tier == "majority" and got.group == tuple(range(9))
    assert decide(many[::-1], "choice").confidence == 9 / 17
