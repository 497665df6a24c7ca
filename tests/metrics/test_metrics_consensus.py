"""Box, mask and span consensus against hand-computed values, and the docstring examples
of the metrics package."""

from __future__ import annotations

import doctest
import importlib
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelnb.errors import ValidationError
from labelnb.metrics import BoxConsensus, DegenerateWarning, MaskConsensus, SpanConsensus
from labelnb.types import Annotation, Box, Choice, Mask, Span


def frame(rows: list[tuple[object, object, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["item", "annotator", "region"])


# -- boxes ------------------------------------------------------------------------------

def test_box_consensus_clusters_and_fuses() -> None:
    df = frame([
        (1, "a", Box(0, 0, 10, 10, "cat")), (1, "a", Box(20, 20, 30, 30, "dog")),
        (1, "b", Box(1, 1, 11, 11, "cat")), (1, "b", Box(21, 20, 31, 30, "dog")),
        (1, "c", Box(2, 0, 12, 10, "cat")), (1, "c", Box(60, 60, 70, 70, "dog")),
        (2, "a", Box(0, 0, 5, 5, "cat")), (2, "b", None),
    ])
    out = BoxConsensus().fit_predict(df)
    assert list(out.columns) == ["item", "region", "label", "votes", "n_annotators"]
    one = out[out["item"] == 1].sort_values("label")
    assert one["votes"].tolist() == [3, 2]
    cat, dog = one["region"].tolist()
    assert (cat.x0, cat.y0, cat.x1, cat.y1) == pytest.approx((1, 1 / 3, 11, 31 / 3))
    assert (dog.x0, dog.x1) == pytest.approx((20.5, 30.5)) and dog.score == pytest.approx(2 / 3)
    assert dog.attributes == {"votes": 2}
    # item 2: one of two annotators drew a box: no strict majority
    assert (out["item"] == 2).sum() == 0
    assert (BoxConsensus(min_votes=1).fit_predict(df)["item"] == 2).sum() == 1


def test_box_consensus_one_box_per_annotator_per_cluster() -> None:
    # annotator a drew the same object twice; b once: two clusters, one with 2 votes
    df = frame([(1, "a", Box(0, 0, 10, 10, "x")), (1, "a", Box(0, 0, 10, 10, "x")),
                (1, "b", Box(0, 0, 10, 10, "x"))])
    out = BoxConsensus(min_votes=1).fit_predict(df)
    assert sorted(out["votes"]) == [1, 2]


def test_box_consensus_labels_weights_and_threshold() -> None:
    df = frame([(1, "a", Box(0, 0, 10, 10, "cat")), (1, "b", Box(0, 0, 10, 10, "dog")),
                (1, "c", Box(2, 0, 12, 10, "dog"))])
    assert BoxConsensus(min_votes=2).fit_predict(df)["label"].tolist() == ["dog"]
    merged = BoxConsensus(match_labels=False).fit_predict(df)
    assert merged["label"].tolist() == ["dog"] and merged["votes"].tolist() == [3]
    w = BoxConsensus(match_labels=False, weights={"a": 5.0}).fit_predict(df)
    box = w["region"][0]
    assert box.label == "cat"  # weighted label vote: 5 against 2
    assert box.x0 == pytest.approx(2 / 7)  # (5*0 + 0 + 2) / 7
    assert BoxConsensus(iou_threshold=0.95, min_votes=2).fit_predict(df).empty
    with pytest.raises(ValidationError):
        BoxConsensus(iou_threshold=1.5).fit(df)
    with pytest.raises(ValidationError):
        BoxConsensus(min_votes=0).fit(df)
    with pytest.raises(ValidationError, match="not a Box"):
        BoxConsensus().fit(frame([(1, "a", Span(0, 1, "x"))]))


def test_box_consensus_from_annotations() -> None:
    anns = [Annotation(item_id=4, regions=(Box(0, 0, 4, 4, "x"), Choice("ok")), author="a"),
            Annotation(item_id=4, regions=(Box(0, 0, 4, 5, "x"),), author="b"),
            Annotation(item_id=4, regions=(), author="c")]
    out = BoxConsensus().fit_predict(anns)
    assert out["n_annotators"].tolist() == [3] and out["votes"].tolist() == [2]
    with pytest.warns(DegenerateWarning):
        assert BoxConsensus().fit_predict([]).empty
    with pytest.raises(ValidationError):
        BoxConsensus().fit([1, 2])


# -- masks ------------------------------------------------------------------------------

def test_mask_consensus_majority_hand_values() -> None:
    h, w = 3, 4
    grids = [np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 1]], bool),
             np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0]], bool),
             np.array([[0, 1, 1, 0], [0, 1, 0, 0], [1, 0, 0, 1]], bool)]
    df = frame([(1, a, Mask.from_array(g, "road")) for a, g in zip("abc", grids, strict=True)])
    out = MaskConsensus().fit_predict(df)
    expect = np.array([[1, 1, 1, 0], [0, 1, 0, 0], [1, 0, 0, 1]], bool)
    got = out["region"][0]
    assert got.size == (h, w)
    assert (got.to_array() == expect).all()
    assert out["votes"].tolist() == [3]
    unanimous = MaskConsensus(min_votes=3).fit_predict(df)["region"][0].to_array()
    assert (unanimous == np.array([[0, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]], bool)).all()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), k=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_mask_at_least_k_matches_dense(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    dense = rng.random((n, 7, 9)) < 0.4
    rles = [Mask.from_array(d, "m").rle for d in dense]
    from labelnb.metrics.masks import rle_of

    got = MaskConsensus.at_least([rle_of(r) for r in rles], k)
    from pycocotools import mask as mask_utils

    assert (mask_utils.decode(got).astype(bool) == (dense.sum(axis=0) >= k)).all()


def test_mask_consensus_unites_one_annotators_masks_and_checks_sizes() -> None:
    left = np.zeros((2, 2), bool)
    left[:, 0] = True
    right = ~left
    df = frame([(1, "a", Mask.from_array(left, "m")), (1, "a", Mask.from_array(right, "m")),
                (1, "b", Mask.from_array(left, "m"))])
    out = MaskConsensus(min_votes=2).fit_predict(df)
    assert (out["region"][0].to_array() == left).all()  # a counts once per pixel
    none = MaskConsensus().fit_predict(frame([(1, "a", Mask.from_array(left, "m")),
                                              (1, "b", Mask.from_array(right, "m"))]))
    assert none.empty  # disjoint masks: no pixel has a majority
    with pytest.raises(ValidationError, match="different sizes"):
        MaskConsensus().fit(frame([(1, "a", Mask.from_array(left, "m")),
                                   (1, "b", Mask.from_array(np.ones((3, 3)), "m"))]))


# -- spans ------------------------------------------------------------------------------

def test_span_consensus_exact() -> None:
    df = frame([(1, "a", Span(0, 5, "ORG")), (1, "a", Span(8, 12, "LOC")),
                (1, "b", Span(0, 5, "ORG")), (1, "b", Span(8, 13, "LOC")),
                (1, "c", Span(0, 5, "PER")), (1, "c", Span(8, 12, "LOC"))])
    out = SpanConsensus().fit_predict(df)
    assert [(s.start, s.end, s.label, s.attributes["votes"]) for s in out["region"]] == [
        (0, 5, "ORG", 2), (8, 12, "LOC", 2)]


def test_span_consensus_overlap_per_character() -> None:
    df = frame([(1, "a", Span(0, 6, "X")), (1, "b", Span(2, 8, "X")),
                (1, "c", Span(4, 10, "X")), (1, "c", Span(20, 22, "X"))])
    out = SpanConsensus(mode="overlap").fit_predict(df)
    spans = [(s.start, s.end, s.attributes["votes"]) for s in out["region"]]
    assert spans == [(2, 8, 3)]  # code points 2..7 covered by >= 2 of 3
    assert out["region"][0].score == 1.0
    loose = SpanConsensus(mode="overlap", min_votes=1).fit_predict(df)
    assert [(s.start, s.end) for s in loose["region"]] == [(0, 10), (20, 22)]
    # one annotator's overlapping spans vote once
    dup = frame([(1, "a", Span(0, 4, "X")), (1, "a", Span(2, 6, "X")), (1, "b", Span(9, 10, "X"))])
    assert SpanConsensus(mode="overlap", min_votes=2).fit_predict(dup).empty
    with pytest.raises(ValidationError):
        SpanConsensus(mode="fuzzy").fit(df)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 20), st.integers(1, 6)), max_size=3),
                min_size=1, max_size=5), st.integers(1, 5))
def test_span_overlap_matches_character_count(per_ann: list[list[tuple[int, int]]],
                                              need: int) -> None:
    rows = [(1, f"a{i}", Span(s, s + ln, "X")) for i, spans in enumerate(per_ann)
            for s, ln in spans] + [(1, f"a{i}", None) for i in range(len(per_ann))]
    cover = np.zeros(30, int)
    for spans in per_ann:
        mine = np.zeros(30, bool)
        for s, ln in spans:
            mine[s:s + ln] = True
        cover += mine
    keep = cover >= need
    expect = [(g[0][0], g[-1][0] + 1) for k, grp in itertools.groupby(enumerate(keep),
                                                                       key=lambda t: t[1])
              if k for g in [list(grp)]]
    with_rows = frame(rows)
    out = SpanConsensus(mode="overlap", min_votes=need).fit_predict(with_rows)
    assert [(s.start, s.end) for s in out["region"]] == expect


# -- docstring examples -----------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "labelnb.metrics", "labelnb.metrics.kappa", "labelnb.metrics.alpha",
    "labelnb.metrics.boxes", "labelnb.metrics.masks", "labelnb.metrics.spans",
    "labelnb.metrics.majority_vote", "labelnb.metrics.dawid_skene",
    "labelnb.metrics.consensus"])
def test_docstring_examples(name: str) -> None:
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


def test_metrics_layer_is_pure() -> None:
    import ast
    from pathlib import Path

    import labelnb.metrics as m

    for path in Path(m.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("labelnb.queue", "labelnb.project",
                                                   "labelnb.widgets")), path
